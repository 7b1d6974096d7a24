package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// defaultDataDir is where the server keeps its state unless told otherwise: $NIMBUS_DATA_DIR,
// else ~/.local/share/nimbus.
func defaultDataDir() string {
	if d := os.Getenv("NIMBUS_DATA_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".nimbus"
	}
	return filepath.Join(home, ".local", "share", "nimbus")
}

// serverInfo is written by a running server into its data dir so that the command line on the
// same machine finds it without flags.
type serverInfo struct {
	Endpoint  string `json:"endpoint"`
	Region    string `json:"region"`
	AccountID string `json:"accountId"`
	PID       int    `json:"pid"`
}

const serverInfoFile = "server.json"

func writeServerInfo(dataDir string, info serverInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dataDir, serverInfoFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dataDir, serverInfoFile))
}

func readServerInfo(dataDir string) (serverInfo, error) {
	var info serverInfo
	b, err := os.ReadFile(filepath.Join(dataDir, serverInfoFile))
	if err != nil {
		if os.IsNotExist(err) {
			return info, fmt.Errorf("no Nimbus server has run with data dir %s: start one with `nimbus server`", dataDir)
		}
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}
