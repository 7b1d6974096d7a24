package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// Event is one change the Catalog applied.
type Event struct {
	Name     string
	Function *lambda.Function // the new record; nil when the function was deleted
	Previous *lambda.Function // the record it replaced; nil when the function is new
	Revision uint64           // KV revision of the change
}

// Catalog is an in-memory view of every function record, updated by a KV watcher, so that
// reads on the invoke path do no I/O. Records it hands out are shared: treat them as
// read-only (Store.GetFunction and ListFunctions return copies to modify).
type Catalog struct {
	log     *slog.Logger
	watcher jetstream.KeyWatcher
	done    chan struct{} // closed when the watcher's update channel closes

	mu       sync.Mutex
	fns      map[string]*lambda.Function
	quals    map[string]*qualifiers // per function with versions or aliases
	revs     map[string]uint64      // per key, the revision applied last (deletes included)
	sorted   []*lambda.Function     // List's answer, rebuilt after a change
	rev      uint64                 // highest revision the watcher has delivered
	reserved int                    // the sum of every function's ReservedConcurrency
	changed  chan struct{}          // closed and replaced after every applied revision
	subs     map[int]func(Event)
	nextSub  int
}

// startCatalog starts the watcher and returns once every record that existed when it was
// called is loaded.
//
// The watcher's own end-of-initial-values marker is not used: it counts messages, and when
// records are rewritten during the load it fires before every key has arrived. Instead the
// load waits until the watcher has passed the stream's last sequence, then fetches directly
// any key it has not seen at all (its message was replaced by a newer one still in flight).
func startCatalog(ctx context.Context, kv jetstream.KeyValue, stream jetstream.Stream, log *slog.Logger) (*Catalog, error) {
	// The watcher lives until stop, not until ctx (Open's context) ends.
	w, err := kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("watch functions: %w", err)
	}
	c := &Catalog{
		log:     log,
		watcher: w,
		done:    make(chan struct{}),
		fns:     map[string]*lambda.Function{},
		quals:   map[string]*qualifiers{},
		revs:    map[string]uint64{},
		changed: make(chan struct{}),
		subs:    map[int]func(Event){},
	}
	go c.run()
	if err := c.load(ctx, kv, stream); err != nil {
		_ = c.stop()
		return nil, fmt.Errorf("load functions: %w", err)
	}
	return c, nil
}

func (c *Catalog) load(ctx context.Context, kv jetstream.KeyValue, stream jetstream.Stream) error {
	prefix := "$KV." + kv.Bucket() + "."
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return err
	}
	if err := c.WaitRevision(ctx, info.State.LastSeq); err != nil {
		return err
	}
	for subj := range info.State.Subjects {
		key := strings.TrimPrefix(subj, prefix)
		c.mu.Lock()
		_, seen := c.revs[key]
		c.mu.Unlock()
		if seen {
			continue
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return err
		}
		c.apply(e, false)
	}
	return nil
}

func (c *Catalog) run() {
	defer close(c.done)
	for e := range c.watcher.Updates() {
		if e != nil { // nil is the unreliable end-of-initial-values marker; see startCatalog
			c.apply(e, true)
		}
	}
}

func (c *Catalog) stop() error {
	err := c.watcher.Stop()
	<-c.done
	return err
}

// apply records one KV entry unless a newer one for its key is already applied. Watched
// entries also advance Revision; an entry fetched directly does not, since the watcher has
// not yet passed the entries before it. Subscribers run before waiters wake, so that when a
// write returns (it waits for its revision), everything subscribed has already reacted.
func (c *Catalog) apply(e jetstream.KeyValueEntry, watched bool) {
	var f *lambda.Function
	var q *qualifiers
	if e.Operation() == jetstream.KeyValuePut {
		var err error
		if f, err = decode(e.Key(), e.Value()); err != nil {
			c.log.Error("skipping undecodable function record", "name", e.Key(), "revision", e.Revision(), "err", err)
		} else {
			q = indexQualifiers(f)
		}
	}
	c.mu.Lock()
	prev := c.fns[e.Key()]
	fresh := e.Revision() > c.revs[e.Key()]
	if fresh {
		c.revs[e.Key()] = e.Revision()
		c.reserved += reservedOf(f) - reservedOf(prev)
		if f != nil {
			c.fns[e.Key()] = f
		} else {
			delete(c.fns, e.Key())
		}
		if q != nil {
			c.quals[e.Key()] = q
		} else {
			delete(c.quals, e.Key())
		}
		c.sorted = nil
	}
	subs := make([]func(Event), 0, len(c.subs))
	for _, fn := range c.subs {
		subs = append(subs, fn)
	}
	c.mu.Unlock()

	if fresh && (prev != nil || f != nil) {
		ev := Event{Name: e.Key(), Function: f, Previous: prev, Revision: e.Revision()}
		for _, fn := range subs {
			fn(ev)
		}
	}
	if !watched {
		return
	}
	c.mu.Lock()
	c.rev = max(c.rev, e.Revision())
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// ReservedConcurrency is the concurrency reserved by all functions together.
func (c *Catalog) ReservedConcurrency() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reserved
}

func reservedOf(f *lambda.Function) int {
	if f == nil || f.ReservedConcurrency == nil {
		return 0
	}
	return *f.ReservedConcurrency
}

// Lookup returns the function's record from memory. The record is shared and read-only.
func (c *Catalog) Lookup(name string) (*lambda.Function, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.fns[name]
	return f, ok
}

// List returns every record sorted by name, from memory. The records are shared and
// read-only; the slice is the caller's.
func (c *Catalog) List() []*lambda.Function {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sorted == nil {
		c.sorted = make([]*lambda.Function, 0, len(c.fns))
		for _, f := range c.fns {
			c.sorted = append(c.sorted, f)
		}
		slices.SortFunc(c.sorted, func(a, b *lambda.Function) int { return strings.Compare(a.Name, b.Name) })
	}
	return slices.Clone(c.sorted)
}

// Revision is the KV revision up to which the watcher has delivered every change.
func (c *Catalog) Revision() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rev
}

// WaitRevision returns once the Catalog has applied revision rev (or a later one), when ctx
// ends, or when the Catalog has stopped.
func (c *Catalog) WaitRevision(ctx context.Context, rev uint64) error {
	for {
		c.mu.Lock()
		cur, ch := c.rev, c.changed
		c.mu.Unlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for catalog revision %d (at %d): %w", rev, cur, ctx.Err())
		case <-c.done:
			return fmt.Errorf("wait for catalog revision %d (at %d): catalog stopped", rev, cur)
		}
	}
}

// Subscribe calls fn with every change applied from now on, in revision order, on the
// watcher's goroutine: fn must be quick and must not call back into the Store's writes
// (they wait for that goroutine). The returned func unsubscribes.
func (c *Catalog) Subscribe(fn func(Event)) (unsubscribe func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.subs, id)
	}
}

// CodeRefs is the set of code objects (hex SHA-256s) the records reference: code that must be
// kept, in the store and in every node's code cache: $LATEST's and every published version's.
func (c *Catalog) CodeRefs() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	refs := make(map[string]bool, len(c.fns))
	for _, f := range c.fns {
		refs[f.CodeSHA256] = true
		for _, v := range f.Versions {
			refs[v.CodeSHA256] = true
		}
	}
	return refs
}
