package logs

import (
	"encoding/binary"
	"errors"
	"time"
)

// One JetStream message carries a batch of consecutive events of one log stream: under load
// the publisher stores many lines per message instead of paying JetStream's per-message cost
// for each, and at low load a batch is a single line. The payload is:
//
//	version byte (1)
//	repeated: uvarint timestamp (Unix nanoseconds)
//	          uvarint len(request id), request id
//	          uvarint len(message), message
//
// A binary layout rather than JSON keeps the publisher's CPU cost per line to a few copies;
// the messages themselves stay readable in `nats stream get`.

const batchVersion = 1

var errBadBatch = errors.New("malformed log batch")

// appendEvent appends one event to a batch payload (starting the payload if dst is empty).
func appendEvent(dst []byte, ts int64, requestID string, msg []byte) []byte {
	if len(dst) == 0 {
		dst = append(dst, batchVersion)
	}
	dst = binary.AppendUvarint(dst, uint64(ts))
	dst = binary.AppendUvarint(dst, uint64(len(requestID)))
	dst = append(dst, requestID...)
	dst = binary.AppendUvarint(dst, uint64(len(msg)))
	return append(dst, msg...)
}

// eventOverhead bounds the bytes appendEvent adds besides the request id and message.
const eventOverhead = 1 + 3*binary.MaxVarintLen64

// decodedEvent is one event read back from a batch.
type decodedEvent struct {
	ts        time.Time
	requestID string
	message   string
}

// decodeBatch calls fn for every event of a batch payload, in order.
func decodeBatch(p []byte, fn func(decodedEvent)) error {
	if len(p) == 0 || p[0] != batchVersion {
		return errBadBatch
	}
	p = p[1:]
	for len(p) > 0 {
		ts, n := binary.Uvarint(p)
		if n <= 0 {
			return errBadBatch
		}
		p = p[n:]
		rid, rest, err := readBytes(p)
		if err != nil {
			return err
		}
		msg, rest, err := readBytes(rest)
		if err != nil {
			return err
		}
		p = rest
		fn(decodedEvent{ts: time.Unix(0, int64(ts)), requestID: string(rid), message: string(msg)})
	}
	return nil
}

func readBytes(p []byte) (field, rest []byte, err error) {
	l, n := binary.Uvarint(p)
	if n <= 0 || uint64(len(p)-n) < l {
		return nil, nil, errBadBatch
	}
	return p[n : n+int(l)], p[n+int(l):], nil
}
