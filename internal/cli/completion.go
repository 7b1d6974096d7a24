package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Command describes a subcommand for shell completion.
type Command struct {
	Name  string
	Help  string
	Flags []string // without dashes
	// Args is what the positional argument is: "function", "path", "shell" or "".
	Args string
}

// Completion writes the completion script of shell ("bash", "zsh" or "fish") for commands.
// Function names are completed by running `nimbus ls -q`.
func Completion(w io.Writer, shell string, commands []Command) error {
	switch shell {
	case "bash":
		return bashCompletion(w, commands)
	case "zsh":
		// zsh runs bash completions through bashcompinit.
		fmt.Fprintln(w, "#compdef nimbus")
		fmt.Fprintln(w, "autoload -U +X bashcompinit && bashcompinit")
		return bashCompletion(w, commands)
	case "fish":
		return fishCompletion(w, commands)
	}
	return &UserError{Msg: fmt.Sprintf("no completion for shell %q: use bash, zsh or fish", shell)}
}

func bashCompletion(w io.Writer, commands []Command) error {
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	var b strings.Builder
	b.WriteString(`# nimbus completion for bash: source <(nimbus completion bash)
_nimbus() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "` + strings.Join(names, " ") + `" -- "$cur"))
        return
    fi
    case "$prev" in
        --output) COMPREPLY=($(compgen -W "table json" -- "$cur")); return ;;
        --data-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    esac
    local flags="" args=""
    case "${COMP_WORDS[1]}" in
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "        %s) flags=%q; args=%q ;;\n", c.Name, dashed(c.Flags), c.Args)
	}
	b.WriteString(`    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
        return
    fi
    case "$args" in
        function) COMPREPLY=($(compgen -W "$(nimbus ls -q 2>/dev/null)" -- "$cur")) ;;
        path) COMPREPLY=($(compgen -f -- "$cur")) ;;
        shell) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
    esac
}
complete -o default -F _nimbus nimbus
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func fishCompletion(w io.Writer, commands []Command) error {
	var b strings.Builder
	b.WriteString("# nimbus completion for fish: nimbus completion fish | source\n")
	b.WriteString("complete -c nimbus -f\n")
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	for _, c := range commands {
		fmt.Fprintf(&b, "complete -c nimbus -n 'not __fish_seen_subcommand_from %s' -a %s -d %s\n",
			strings.Join(names, " "), c.Name, fishQuote(c.Help))
		for _, f := range slices.Sorted(slices.Values(c.Flags)) {
			fmt.Fprintf(&b, "complete -c nimbus -n '__fish_seen_subcommand_from %s' -l %s\n", c.Name, f)
		}
		switch c.Args {
		case "function":
			fmt.Fprintf(&b, "complete -c nimbus -n '__fish_seen_subcommand_from %s' -a '(nimbus ls -q 2>/dev/null)'\n", c.Name)
		case "path":
			fmt.Fprintf(&b, "complete -c nimbus -n '__fish_seen_subcommand_from %s' -F\n", c.Name)
		case "shell":
			fmt.Fprintf(&b, "complete -c nimbus -n '__fish_seen_subcommand_from %s' -a 'bash zsh fish'\n", c.Name)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dashed(flags []string) string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = "--" + f
	}
	return strings.Join(out, " ")
}

func fishQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
