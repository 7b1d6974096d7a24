package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// With -pin, each platform runs on platformCPU and the load generator on loadCPU, so that
// neither takes CPU time from the other and every hop between client and platform crosses
// CPUs the same way on both platforms.
const (
	platformCPU = 0
	loadCPU     = 1
)

// platformCommand is exec.Command for a platform's process, pinned to platformCPU when pin
// is set: taskset execs the program in place, and its children (the functions) inherit the
// CPU set.
func platformCommand(pin bool, name string, args ...string) *exec.Cmd {
	if !pin {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", strconv.Itoa(platformCPU), name}, args...)...)
}

// pinSelf moves every thread of this process to cpu; threads started later inherit it.
func pinSelf(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pinning thread %d to CPU %d: %w", tid, cpu, err)
		}
	}
	return nil
}
