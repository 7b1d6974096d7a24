package nsinit

import "errors"

// OpKind says what one step of a Plan does.
type OpKind uint8

// Steps the init carries out, in order, before it reports ready.
const (
	// OpMount calls mount(Source, Path, FSType, Flags, Data).
	OpMount OpKind = iota + 1
	// OpMkdir creates directory Path with Mode.
	OpMkdir
	// OpSymlink creates symlink Path pointing at Source.
	OpSymlink
	// OpWriteFile creates file Path with Mode and contents Data; with Flags O_TRUNC it may
	// replace an existing file.
	OpWriteFile
	// OpMknod creates character device Path with Mode and device number Dev.
	OpMknod
	// OpPivotRoot makes Path the root directory and detaches the old root.
	OpPivotRoot
	// OpChdir changes the working directory to Path, against which later relative paths
	// (such as an overlay's lower directories) resolve.
	OpChdir
	// OpUnmount detaches the mount at Path (umount2 with MNT_DETACH).
	OpUnmount
)

// Op is one step of a Plan. Which fields matter depends on Kind.
type Op struct {
	Kind   OpKind
	Path   string
	Source string
	FSType string
	Data   string
	Flags  uint64
	Mode   uint32
	Dev    uint64
}

// Plan is everything the init needs: the parent resolves and validates all of it, so the init
// interprets it without decisions of its own (and without packages that would slow its start).
// An init gets two: a boot plan while it waits in the pool, whose Ops, Hostname and NoFile
// apply, and the environment's plan, whose Ops and program fields apply.
type Plan struct {
	Ops      []Op
	Hostname string
	// UID and GID the program runs as; never 0.
	UID, GID uint32
	// NoFile is the RLIMIT_NOFILE soft and hard limit.
	NoFile uint64
	// Seccomp is a classic BPF program as raw sock_filter structs in native byte order.
	Seccomp []byte
	// Dir is the working directory of the program, inside the new root.
	Dir string
	// Path is the file to execute; Args is its argv and Env its complete environment.
	Path string
	Args []string
	Env  []string
	// Stdout and Stderr, if not 0, make the n-th descriptor passed with the plan (counting
	// from 1) the program's stdout or stderr, instead of the pipe the init was started with.
	Stdout, Stderr uint8
}

// MaxPlanSize bounds an encoded plan so that it fits one control-socket message.
const MaxPlanSize = 128 << 10

var errShort = errors.New("plan: truncated")

// Encode appends the wire form of p to b.
func (p *Plan) Encode(b []byte) []byte {
	b = putU32(b, uint32(len(p.Ops)))
	for i := range p.Ops {
		op := &p.Ops[i]
		b = append(b, byte(op.Kind))
		b = putString(b, op.Path)
		b = putString(b, op.Source)
		b = putString(b, op.FSType)
		b = putString(b, op.Data)
		b = putU64(b, op.Flags)
		b = putU32(b, op.Mode)
		b = putU64(b, op.Dev)
	}
	b = putString(b, p.Hostname)
	b = putU32(b, p.UID)
	b = putU32(b, p.GID)
	b = putU64(b, p.NoFile)
	b = putString(b, string(p.Seccomp))
	b = putString(b, p.Dir)
	b = putString(b, p.Path)
	b = putStrings(b, p.Args)
	b = putStrings(b, p.Env)
	return append(b, p.Stdout, p.Stderr)
}

// Decode parses the wire form written by Encode.
func Decode(b []byte) (*Plan, error) {
	d := decoder{b: b}
	p := &Plan{}
	n := d.u32()
	if d.err == nil && int(n) > len(b) {
		return nil, errShort
	}
	p.Ops = make([]Op, 0, n)
	for i := uint32(0); i < n && d.err == nil; i++ {
		var op Op
		op.Kind = OpKind(d.byte())
		op.Path = d.string()
		op.Source = d.string()
		op.FSType = d.string()
		op.Data = d.string()
		op.Flags = d.u64()
		op.Mode = d.u32()
		op.Dev = d.u64()
		p.Ops = append(p.Ops, op)
	}
	p.Hostname = d.string()
	p.UID = d.u32()
	p.GID = d.u32()
	p.NoFile = d.u64()
	p.Seccomp = []byte(d.string())
	p.Dir = d.string()
	p.Path = d.string()
	p.Args = d.strings()
	p.Env = d.strings()
	p.Stdout = d.byte()
	p.Stderr = d.byte()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errors.New("plan: trailing bytes")
	}
	return p, nil
}

func putU32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func putU64(b []byte, v uint64) []byte {
	return putU32(putU32(b, uint32(v)), uint32(v>>32))
}

func putString(b []byte, s string) []byte {
	return append(putU32(b, uint32(len(s))), s...)
}

func putStrings(b []byte, ss []string) []byte {
	b = putU32(b, uint32(len(ss)))
	for _, s := range ss {
		b = putString(b, s)
	}
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	v := d.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *decoder) u32() uint32 {
	v := d.take(4)
	if v == nil {
		return 0
	}
	return uint32(v[0]) | uint32(v[1])<<8 | uint32(v[2])<<16 | uint32(v[3])<<24
}

func (d *decoder) u64() uint64 {
	lo := d.u32()
	return uint64(lo) | uint64(d.u32())<<32
}

func (d *decoder) string() string {
	n := d.u32()
	return string(d.take(int(n)))
}

func (d *decoder) strings() []string {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if int(n) > len(d.b) {
		d.err = errShort
		return nil
	}
	ss := make([]string, 0, n)
	for i := uint32(0); i < n && d.err == nil; i++ {
		ss = append(ss, d.string())
	}
	return ss
}
