package runtimes

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The mount lists are proved by running each runtime, with its client, in a chroot that holds
// only those mounts, the runtime dir and the task dir: what a sandbox will build.

const chrootEnv = "NIMBUS_RUNTIMES_CHROOT_SPEC"

type chrootSpec struct {
	Root   string
	Mounts []Mount
	Argv   []string
	Env    []string
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(chrootEnv); spec != "" {
		err := runInChroot(spec)
		fmt.Fprintln(os.Stderr, "chroot helper:", err)
		os.Exit(99)
	}
	os.Exit(m.Run())
}

// runInChroot runs in a child started in a new mount namespace; it only returns on error.
func runInChroot(encoded string) error {
	var spec chrootSpec
	if err := json.Unmarshal([]byte(encoded), &spec); err != nil {
		return err
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := spec.Root
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=8m"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	for _, m := range spec.Mounts {
		target := filepath.Join(root, m.Target)
		fi, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			err = os.MkdirAll(target, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
			err = os.WriteFile(target, nil, 0o644)
		}
		if err != nil {
			return fmt.Errorf("mount point %s: %w", target, err)
		}
		if err := syscall.Mount(m.Source, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s: %w", m.Target, err)
		}
		if err := syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", m.Target, err)
		}
	}
	for _, d := range []string{"proc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := syscall.Mount("proc", filepath.Join(root, "proc"), "proc", 0, ""); err != nil {
		return fmt.Errorf("proc: %w", err)
	}
	if err := syscall.Chroot(root); err != nil {
		return err
	}
	if err := syscall.Chdir(TaskDir); err != nil {
		return err
	}
	return syscall.Exec(spec.Argv[0], spec.Argv, spec.Env)
}

func TestRuntimesRunInChrootOfTheirMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to build a chroot from bind mounts (CI runs as root)")
	}
	handlers := map[Family]map[string]string{
		Python: {"app.py": `import json, ssl, sqlite3, decimal, ctypes, hashlib, zlib, bz2, lzma, uuid, logging
def handler(event, context):
    logging.getLogger().warning("inside")
    import os
    return {"sha": hashlib.sha256(b"x").hexdigest()[:8], "d": str(decimal.Decimal("1.5") * 2), "ssl": ssl.OPENSSL_VERSION[:7],
            "jailed": not os.path.exists("/etc/passwd")}
`},
		Node: {"app.js": `const crypto = require('crypto'), zlib = require('zlib');
exports.handler = async () => ({ sha: crypto.createHash('sha256').update('x').digest('hex').slice(0, 8), z: zlib.gunzipSync(zlib.gzipSync('ok')).toString(),
  jailed: !require('fs').existsSync('/etc/passwd') });
`},
	}
	wants := map[Family]string{
		Python: `{"sha": "2d711642", "d": "3.0", "ssl": "OpenSSL", "jailed": true}`,
		Node:   `{"sha":"2d711642","z":"ok","jailed":true}`,
	}
	for _, r := range hostCatalog(t).Available() {
		if r.Family == Provided {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			f := startFunction(t, r, fnOptions{handler: "app.handler", files: handlers[r.Family], inChroot: true})
			if err := f.waitInit(t); err != nil {
				t.Fatalf("WaitInit = %v", err)
			}
			if resp := f.invoke(t, "req-chroot", `{}`); string(resp.Payload) != wants[r.Family] || resp.FunctionError {
				t.Errorf("invoke in chroot = %s, want %s", resp.Payload, wants[r.Family])
			}
		})
	}
}

// chrootCommand rewrites a host command started by startFunction to run r inside a chroot
// built from r's mounts plus the runtime and task directories.
func chrootCommand(t testing.TB, cmd *exec.Cmd, r Runtime, rtDir, taskDir string) {
	argv, err := r.Command(func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	env := make([]string, 0, len(cmd.Env))
	for _, kv := range cmd.Env {
		switch {
		case strings.HasPrefix(kv, "LAMBDA_TASK_ROOT="):
			kv = "LAMBDA_TASK_ROOT=" + TaskDir
		}
		env = append(env, kv)
	}
	spec := chrootSpec{
		Root:   t.TempDir(),
		Mounts: append(r.Mounts, Mount{Source: rtDir, Target: RuntimeDir}, Mount{Source: taskDir, Target: TaskDir}),
		Argv:   argv,
		Env:    env,
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Path = self
	cmd.Args = []string{self, "-test.run=^$"}
	cmd.Env = []string{chrootEnv + "=" + string(b)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
}
