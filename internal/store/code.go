package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
		if errors.Is(err, ErrCodeNotFound) {
			_, err = s.obs.Put(ctx, jetstream.ObjectMeta{Name: name}, bytes.NewReader(zip))
			return err
		}
		if err != nil {
			return err
		}
		if info.Size != uint64(len(zip)) {
			return fmt.Errorf("stored object has %d bytes, want %d", info.Size, len(zip))
		}
		// Republish the same meta, conditional on nobody having written it since we read it:
		// if a sweep deleted it in between, the condition fails and we upload instead.
		err = s.publishCodeMeta(ctx, name, m.Data, m.Sequence)
		if isWrongLastSeq(err) {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		return err
	}
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
	objs, err := s.obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep code: list: %w", err)
	}
	cutoff := time.Now().Add(-minAge)
	var old []string
	for _, o := range objs {
		if o.ModTime.Before(cutoff) {
			old = append(old, o.Name)
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
	used := s.catalog.codeRefs()
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
// token for touch and delete, and its time is the object's age.
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
	if info.Deleted {
		return nil, nil, fmt.Errorf("code %s: %w", name, ErrCodeNotFound)
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
