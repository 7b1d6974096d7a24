package nsinit

// EnvMarker is the environment variable that turns a re-executed binary into a sandbox init.
// Its value must equal ProtocolVersion, so that an init from an older binary left on disk
// during an upgrade refuses a plan it cannot read.
const (
	EnvMarker       = "_NIMBUS_SANDBOX_INIT"
	ProtocolVersion = "2"
)

// Descriptors the init starts with besides stdin, stdout and stderr: its end of the control
// socket (SOCK_SEQPACKET: one message per send) and the network namespace to join.
const (
	ControlFD = 3
	NetNSFD   = 4
)

// Messages on the control socket. The parent sends the encoded boot Plan first and the
// environment's Plan when an environment takes the init (with the descriptors Plan.Stdout and
// Plan.Stderr refer to, as SCM_RIGHTS); the init answers each with MsgReady or
// MsgSetupError. Then the parent may send MsgListen any number of times (answered by
// MsgListener with the socket attached, or MsgListenError) and finally MsgStart, after which
// the init execs the program: the socket is close-on-exec, so the parent reads end-of-file on
// success, or MsgExecError followed by the init's exit.
const (
	MsgReady       = 'R' // setup done, waiting for commands
	MsgSetupError  = 'E' // + text; the init exits
	MsgListen      = 'L' // + family byte (4 or 6) + address (4 or 16 bytes) + port (2 bytes, big endian)
	MsgListener    = 'F' // listening socket attached as SCM_RIGHTS
	MsgListenError = 'e' // + text; the init keeps waiting
	MsgStart       = 'S'
	MsgExecError   = 'X' // + errno (4 bytes, little endian) + text; the init exits
)

// Exit codes of an init that could not exec the program, as a shell reports them.
const (
	ExitNotFound      = 127
	ExitNotExecutable = 126
	ExitSetupFailed   = 125
)
