// Package store persists Nimbus's catalog on NATS JetStream: function records in a KV bucket
// (key = function name) and code zips in an Object Store bucket (object name = hex SHA-256 of
// the zip). A Catalog, kept fresh by a KV watcher, serves the invoke path from memory; a
// CodeCache extracts code onto the local disk once per node.
//
// The same code runs against the embedded single-node server and against a NATS cluster:
// everything goes through jetstream.JetStream, and consistency comes from JetStream's
// per-subject compare-and-set, never from a lock in this process.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// Errors the API maps to Lambda's: the store knows names, not ARNs, so it cannot write
// Lambda's messages itself. They are returned wrapped; test with errors.Is.
var (
	// ErrNotFound: no function has this name.
	ErrNotFound = errors.New("function not found")
	// ErrExists: CreateFunction of a name already taken.
	ErrExists = errors.New("function already exists")
	// ErrRevisionMismatch: a caller-supplied RevisionId is stale (see CheckRevision).
	ErrRevisionMismatch = errors.New("revision id does not match")
	// ErrCodeNotFound: no code object has this SHA-256. For a function record that names
	// it this is a server fault, not a client mistake.
	ErrCodeNotFound = errors.New("code not found")
	// ErrInvalidName: the name cannot be a key (the API validates names before this).
	ErrInvalidName = errors.New("invalid function name")
)

// Config names the buckets and says how to create them.
type Config struct {
	// FunctionsBucket is the KV bucket of function records. Empty means "nimbus_functions".
	FunctionsBucket string
	// CodeBucket is the Object Store bucket of code zips. Empty means "nimbus_code".
	CodeBucket string
	// Replicas is the number of copies JetStream keeps of each bucket when it creates them
	// (1 for the embedded server, typically 3 on a cluster). Zero means 1. Existing buckets
	// are used as they are.
	Replicas int
	// Logger receives warnings (an undecodable record, a slow catalog). Nil discards them.
	Logger *slog.Logger
}

// Store is the catalog's persistence. It is safe for concurrent use.
type Store struct {
	cfg     Config
	log     *slog.Logger
	js      jetstream.JetStream
	kv      jetstream.KeyValue
	obs     jetstream.ObjectStore
	code    jetstream.Stream // the Object Store's stream, for conditional meta writes
	catalog *Catalog
	puts    flight // one upload per sha at a time on this node
}

// Open binds to the buckets (creating them when missing), loads the Catalog and starts
// keeping it fresh. Close stops the watcher; the connection stays the caller's.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.FunctionsBucket == "" {
		cfg.FunctionsBucket = "nimbus_functions"
	}
	if cfg.CodeBucket == "" {
		cfg.CodeBucket = "nimbus_code"
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, log: log, js: js}

	kv, err := js.KeyValue(ctx, cfg.FunctionsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      cfg.FunctionsBucket,
			Description: "Nimbus function records",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another node won the race
			kv, err = js.KeyValue(ctx, cfg.FunctionsBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open kv bucket %s: %w", cfg.FunctionsBucket, err)
	}
	s.kv = kv

	obs, err := js.ObjectStore(ctx, cfg.CodeBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      cfg.CodeBucket,
			Description: "Nimbus code zips by SHA-256",
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = js.ObjectStore(ctx, cfg.CodeBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", cfg.CodeBucket, err)
	}
	s.obs = obs
	if s.code, err = js.Stream(ctx, "OBJ_"+cfg.CodeBucket); err != nil {
		return nil, fmt.Errorf("open object store stream %s: %w", cfg.CodeBucket, err)
	}

	kvStream, err := js.Stream(ctx, "KV_"+cfg.FunctionsBucket)
	if err != nil {
		return nil, fmt.Errorf("open kv stream %s: %w", cfg.FunctionsBucket, err)
	}
	if s.catalog, err = startCatalog(ctx, kv, kvStream, log); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the Catalog's watcher. The NATS connection is left open.
func (s *Store) Close() error {
	return s.catalog.stop()
}

// Catalog is the memory view of every function, kept fresh by a KV watcher.
func (s *Store) Catalog() *Catalog { return s.catalog }

// Sync waits until the Catalog has seen every write committed anywhere before the call:
// after it, Catalog reads are as fresh as a KV read. It costs one round trip.
func (s *Store) Sync(ctx context.Context) error {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("sync catalog: %w", err)
	}
	kst, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return fmt.Errorf("sync catalog: unexpected bucket status %T", st)
	}
	return s.catalog.WaitRevision(ctx, kst.StreamInfo().State.LastSeq)
}

// CheckRevision returns ErrRevisionMismatch when want is set and is not f's RevisionID: the
// check an UpdateFunction callback makes for a request that carries a RevisionId.
func CheckRevision(f *lambda.Function, want string) error {
	if want != "" && want != f.RevisionID {
		return fmt.Errorf("function %s: %w", f.Name, ErrRevisionMismatch)
	}
	return nil
}

func encode(f *lambda.Function) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode function %s: %w", f.Name, err)
	}
	return b, nil
}

func decode(key string, b []byte) (*lambda.Function, error) {
	f := new(lambda.Function)
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("decode function %s: %w", key, err)
	}
	return f, nil
}

// clone deep-copies f, so callers of Get/List may modify what they get without touching
// the Catalog's shared records. TestCloneIsDeep fails when Function gains a field clone misses.
func clone(f *lambda.Function) *lambda.Function {
	c := *f
	c.Environment = maps.Clone(f.Environment)
	c.Tags = maps.Clone(f.Tags)
	c.Layers = slices.Clone(f.Layers)
	if f.ReservedConcurrency != nil {
		n := *f.ReservedConcurrency
		c.ReservedConcurrency = &n
	}
	c.EventInvoke = f.EventInvoke.Clone()
	if f.Versions != nil {
		c.Versions = make([]*lambda.Function, len(f.Versions))
		for i, v := range f.Versions {
			if v != nil {
				c.Versions[i] = clone(v)
			}
		}
	}
	if f.Aliases != nil {
		c.Aliases = make([]*lambda.Alias, len(f.Aliases))
		for i, a := range f.Aliases {
			if a != nil {
				ca := *a
				c.Aliases[i] = &ca
			}
		}
	}
	return &c
}
