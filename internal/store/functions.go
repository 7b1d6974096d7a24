package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// CreateFunction stores a new function record, or fails with ErrExists when the name is
// taken. Its code must already be stored (PutCode): the record is one KV message written
// after the code, so a crash at any point leaves the whole function or none of it visible.
// The store sets f.RevisionID; every other field, LastModified included, is the caller's.
// When it returns, this node's Catalog already holds the function.
func (s *Store) CreateFunction(ctx context.Context, f *lambda.Function) error {
	if err := s.codeExists(ctx, f.CodeSHA256); err != nil {
		return fmt.Errorf("create function %s: %w", f.Name, err)
	}
	rec := clone(f)
	rec.RevisionID = uuid.NewString()
	b, err := encode(rec)
	if err != nil {
		return err
	}
	rev, err := s.kv.Create(ctx, f.Name, b)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("create function %s: %w", f.Name, ErrExists)
	case errors.Is(err, jetstream.ErrInvalidKey):
		return fmt.Errorf("create function %q: %w", f.Name, ErrInvalidName)
	case err != nil:
		return fmt.Errorf("create function %s: %w", f.Name, err)
	}
	f.RevisionID = rec.RevisionID
	s.awaitCatalog(ctx, rev)
	return nil
}

// GetFunction reads the current record from the KV bucket (not from the Catalog), so it sees
// writes from every node. The result is the caller's to modify.
func (s *Store) GetFunction(ctx context.Context, name string) (*lambda.Function, error) {
	f, _, err := s.get(ctx, name)
	return f, err
}

func (s *Store) get(ctx context.Context, name string) (*lambda.Function, uint64, error) {
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) ||
		errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, fmt.Errorf("get function %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get function %s: %w", name, err)
	}
	f, err := decode(name, e.Value())
	if err != nil {
		return nil, 0, err
	}
	return f, e.Revision(), nil
}

// UpdateFunction applies fn to the current record and stores the result if nobody wrote the
// record in between; otherwise it reads it again and re-applies fn, until it wins or ctx
// ends. fn may run several times, each time on a fresh copy, so it must only change the
// record it is given. An error from fn aborts the update and is returned as is (for example
// CheckRevision's ErrRevisionMismatch). The name and RevisionID are the store's: the name
// cannot change and RevisionID is new after every update. A changed CodeSHA256 must already
// be stored (PutCode). Returns the stored record, which is the caller's to modify.
func (s *Store) UpdateFunction(ctx context.Context, name string, fn func(*lambda.Function) error) (*lambda.Function, error) {
	for attempt := 0; ; attempt++ {
		f, rev, err := s.get(ctx, name)
		if err != nil {
			return nil, err
		}
		oldCode := f.CodeSHA256
		if err := fn(f); err != nil {
			return nil, err
		}
		if f.CodeSHA256 != oldCode {
			if err := s.codeExists(ctx, f.CodeSHA256); err != nil {
				return nil, fmt.Errorf("update function %s: %w", name, err)
			}
		}
		f.Name = name
		f.RevisionID = uuid.NewString()
		b, err := encode(f)
		if err != nil {
			return nil, err
		}
		newRev, err := s.kv.Update(ctx, name, b, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			if err := backoff(ctx, attempt); err != nil {
				return nil, fmt.Errorf("update function %s: %w", name, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update function %s: %w", name, err)
		}
		s.awaitCatalog(ctx, newRev)
		return f, nil
	}
}

// DeleteFunction removes the record, or fails with ErrNotFound. The code object stays until
// SweepCode finds it unreferenced. When it returns, this node's Catalog no longer has it.
func (s *Store) DeleteFunction(ctx context.Context, name string) error {
	for attempt := 0; ; attempt++ {
		_, rev, err := s.get(ctx, name)
		if err != nil {
			return err
		}
		// kv.Delete does not report the marker's revision, which the Catalog wait needs; this
		// is the same message (ADR-8 delete marker) with the same compare-and-set.
		m := nats.NewMsg("$KV." + s.cfg.FunctionsBucket + "." + name)
		m.Header.Set("KV-Operation", "DEL")
		ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(rev))
		if isWrongLastSeq(err) {
			if err := backoff(ctx, attempt); err != nil {
				return fmt.Errorf("delete function %s: %w", name, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("delete function %s: %w", name, err)
		}
		s.awaitCatalog(ctx, ack.Sequence)
		return nil
	}
}

// ListFunctions returns every function sorted by name, as fresh as a KV read (it Syncs the
// Catalog first, then copies from memory). The records are the caller's to modify.
func (s *Store) ListFunctions(ctx context.Context) ([]*lambda.Function, error) {
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	shared := s.catalog.List()
	out := make([]*lambda.Function, len(shared))
	for i, f := range shared {
		out[i] = clone(f)
	}
	return out, nil
}

// awaitCatalog gives read-your-writes on this node: once a write returns, Catalog.Lookup
// sees it. The write is already durable, so a failure here is logged, not returned — the
// caller must not report a committed change as failed.
func (s *Store) awaitCatalog(ctx context.Context, rev uint64) {
	if err := s.catalog.WaitRevision(ctx, rev); err != nil {
		s.log.Warn("catalog did not catch up with a write", "revision", rev, "err", err)
	}
}

// backoff spaces out compare-and-set retries with jitter so that writers racing on one
// record do not collide again in lockstep.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(min(attempt+1, 20)) * 500 * time.Microsecond
	t := time.NewTimer(rand.N(d) + 50*time.Microsecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isWrongLastSeq reports a failed compare-and-set (code 10071, or 10164 on replicated streams).
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
