package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultCodeMinAge is the SweepCode age that is safe in practice: far longer than any
// PutCode → CreateFunction/UpdateFunction sequence takes.
const DefaultCodeMinAge = 15 * time.Minute

// PutCode stores a code zip under the hex SHA-256 of its bytes and returns that name. It is
// idempotent: when the object exists, nothing is uploaded and the object is only touched
// (its modification time renewed), which keeps SweepCode from removing it while the
// function that is about to reference it is being written.
func (s *Store) PutCode(ctx context.Context, zip []byte) (string, error) {
	sum := sha256.Sum256(zip)
	name := hex.EncodeToString(sum[:])
	err := s.puts.do(name, func() error { return s.putCode(ctx, name, zip) })
	if err != nil {
		return "", fmt.Errorf("put code %s: %w", name, err)
	}
	return name, nil
}

func (s *Store) putCode(ctx context.Context, name string, zip []byte) error {
	for attempt := 0; ; attempt++ {
		m, info, err := s.codeMeta(ctx, name)
		switch {
		case errors.Is(err, ErrCodeNotFound):
			var lastSeq uint64 // a deleted object's marker is the meta to replace
			if m != nil {
				lastSeq = m.Sequence
			}
			err = s.uploadCode(ctx, name, zip, lastSeq)
		case err != nil:
			return err
		case info.Size != uint64(len(zip)):
			return fmt.Errorf("stored object has %d bytes, want %d", info.Size, len(zip))
		default:
			// Touch: republish the same meta, conditional on nobody having written it since
			// we read it. If a sweep deleted it in between, the condition fails and the next
			// round uploads.
			err = s.publishCodeMeta(ctx, name, m.Data, m.Sequence)
		}
		if !isWrongLastSeq(err) {
			return err
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// codeChunkSize is the Object Store's default chunk, well under NATS's default max payload.
const codeChunkSize = 128 * 1024

// uploadCode writes an object in the Object Store's format (ADR-20): chunks on a fresh
// subject, then the meta message, which is what makes the object visible. It is written
// here rather than with ObjectStore.Put for two reasons: the meta is published only if the
// meta subject is still at lastSeq, so two nodes uploading the same zip at once cannot
// strand each other's chunks; and ObjectStore.Put in nats.go v1.55.0 can leak a goroutine
// per call (resetPendingAcksOnReconnect may start after cleanupReplySub and block forever
// on a nil channel).
func (s *Store) uploadCode(ctx context.Context, name string, zip []byte, lastSeq uint64) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	id := strings.ReplaceAll(uuid.NewString(), "-", "")
	chunks := fmt.Sprintf("$O.%s.C.%s", s.cfg.CodeBucket, id)
	purge := func() { // best effort: unreferenced chunks are invisible, only wasted space
		_ = s.code.Purge(context.WithoutCancel(ctx), jetstream.WithPurgeSubject(chunks))
	}
	var acks []jetstream.PubAckFuture
	for off := 0; off < len(zip); off += codeChunkSize {
		m := nats.NewMsg(chunks)
		m.Data = zip[off:min(off+codeChunkSize, len(zip))]
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			purge()
			return fmt.Errorf("upload chunk: %w", err)
		}
		acks = append(acks, f)
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			purge()
			return fmt.Errorf("upload chunk: %w", err)
		case <-ctx.Done():
			purge()
			return fmt.Errorf("upload chunk: %w", ctx.Err())
		}
	}
	sum := sha256.Sum256(zip)
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: codeChunkSize}},
		Bucket:     s.cfg.CodeBucket,
		NUID:       id,
		Size:       uint64(len(zip)),
		Chunks:     uint32(len(acks)),
		Digest:     "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:]),
	}
	data, err := json.Marshal(info)
	if err != nil {
		purge()
		return err
	}
	if err := s.publishCodeMeta(ctx, name, data, lastSeq); err != nil {
		purge()
		return err
	}
	return nil
}

// GetCode returns the zip stored under sha256hex, or ErrCodeNotFound. The Object Store
// verifies the content against its recorded digest.
func (s *Store) GetCode(ctx context.Context, sha256hex string) ([]byte, error) {
	b, err := s.obs.GetBytes(ctx, sha256hex)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("get code %s: %w", sha256hex, ErrCodeNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get code %s: %w", sha256hex, err)
	}
	return b, nil
}

// codeExists checks that a function record is about to name code that is stored.
func (s *Store) codeExists(ctx context.Context, sha256hex string) error {
	if sha256hex == "" {
		return fmt.Errorf("no code: %w", ErrCodeNotFound)
	}
	if _, err := s.obs.GetInfo(ctx, sha256hex); err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("code %s: %w", sha256hex, ErrCodeNotFound)
		}
		return fmt.Errorf("code %s: %w", sha256hex, err)
	}
	return nil
}

// SweepCode deletes the code objects that no function references and that nobody has put or
// touched for minAge, and returns their names. It is safe to run on any node at any time,
// concurrently with writes, as long as minAge exceeds the time between a PutCode and the
// write of the record that references its result (DefaultCodeMinAge does): each delete is
// conditional on the object's meta being unchanged since this sweep looked at it, and
// PutCode changes it.
func (s *Store) SweepCode(ctx context.Context, minAge time.Duration) ([]string, error) {
	names, err := s.codeNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep code: %w", err)
	}
	cutoff := time.Now().Add(-minAge)
	var old []string
	for _, name := range names {
		m, _, err := s.codeMeta(ctx, name)
		if errors.Is(err, ErrCodeNotFound) {
			continue // a deleted object's marker
		}
		if err != nil {
			return nil, fmt.Errorf("sweep code: %w", err)
		}
		if m.Time.Before(cutoff) {
			old = append(old, name)
		}
	}
	if len(old) == 0 {
		return nil, nil
	}
	// References are read after the ages: code put after this point is young, and code put
	// before it is referenced by now or was touched by PutCode.
	if err := s.Sync(ctx); err != nil {
		return nil, fmt.Errorf("sweep code: %w", err)
	}
	used := s.catalog.CodeRefs()
	var removed []string
	for _, name := range old {
		if used[name] {
			continue
		}
		ok, err := s.deleteCodeIfOld(ctx, name, cutoff)
		if err != nil {
			return removed, fmt.Errorf("sweep code: %w", err)
		}
		if ok {
			removed = append(removed, name)
		}
	}
	return removed, nil
}

// codeNames lists every object name with a meta message, deleted ones included. It reads the
// stream's subject list rather than using ObjectStore.List, whose watcher in nats.go v1.55.0
// can wait forever for its end-of-list marker when metas are rewritten during the listing
// (as PutCode's touches do).
func (s *Store) codeNames(ctx context.Context) ([]string, error) {
	prefix := fmt.Sprintf("$O.%s.M.", s.cfg.CodeBucket)
	info, err := s.code.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("list code: %w", err)
	}
	names := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		b, err := base64.URLEncoding.DecodeString(strings.TrimPrefix(subj, prefix))
		if err != nil {
			s.log.Warn("skipping code object with an undecodable name", "subject", subj)
			continue
		}
		names = append(names, string(b))
	}
	return names, nil
}

// deleteCodeIfOld deletes the object if its meta is still older than cutoff, conditionally
// on the meta not changing between that check and the delete marker.
func (s *Store) deleteCodeIfOld(ctx context.Context, name string, cutoff time.Time) (bool, error) {
	m, info, err := s.codeMeta(ctx, name)
	if errors.Is(err, ErrCodeNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !m.Time.Before(cutoff) {
		return false, nil
	}
	// The same marker ObjectStore.Delete writes (ADR-20), with a compare-and-set added.
	info.Deleted = true
	info.Size, info.Chunks, info.Digest = 0, 0, ""
	info.ModTime = time.Time{}
	data, err := json.Marshal(info)
	if err != nil {
		return false, fmt.Errorf("delete code %s: %w", name, err)
	}
	if err := s.publishCodeMeta(ctx, name, data, m.Sequence); err != nil {
		if isWrongLastSeq(err) {
			return false, nil // touched or replaced meanwhile: in use again
		}
		return false, fmt.Errorf("delete code %s: %w", name, err)
	}
	if info.NUID != "" {
		chunks := fmt.Sprintf("$O.%s.C.%s", s.cfg.CodeBucket, info.NUID)
		if err := s.code.Purge(ctx, jetstream.WithPurgeSubject(chunks)); err != nil {
			return true, fmt.Errorf("delete code %s: purge chunks: %w", name, err)
		}
	}
	return true, nil
}

// codeMeta reads an object's raw meta message: its stream sequence is the compare-and-set
// token for touch, delete and upload, and its time is the object's age. For a deleted object
// it returns the marker with ErrCodeNotFound.
func (s *Store) codeMeta(ctx context.Context, name string) (*jetstream.RawStreamMsg, *jetstream.ObjectInfo, error) {
	m, err := s.code.GetLastMsgForSubject(ctx, s.codeMetaSubject(name))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil, fmt.Errorf("code %s: %w", name, ErrCodeNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("code %s meta: %w", name, err)
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return nil, nil, fmt.Errorf("code %s meta: %w", name, err)
	}
	if info.Deleted { // the marker's sequence is still the compare-and-set token
		return m, nil, fmt.Errorf("code %s: %w", name, ErrCodeNotFound)
	}
	return m, &info, nil
}

func (s *Store) publishCodeMeta(ctx context.Context, name string, data []byte, lastSeq uint64) error {
	m := nats.NewMsg(s.codeMetaSubject(name))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = data
	_, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(lastSeq))
	return err
}

func (s *Store) codeMetaSubject(name string) string {
	return fmt.Sprintf("$O.%s.M.%s", s.cfg.CodeBucket, base64.URLEncoding.EncodeToString([]byte(name)))
}
