package main

// `sluice completion bash|zsh|fish` prints a script that completes sluice
// command lines in that shell. The scripts are small: on every Tab they
// ask the binary itself (`sluice __complete WORD...`) for the candidates,
// so the commands and flags offered are always those of the binary on the
// PATH.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// completeCommand is the hidden command the scripts call.
const completeCommand = "__complete"

func runCompletion(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "completion", "sluice completion bash|zsh|fish\n\n"+
		"Prints a shell completion script. Load it in the current shell with\n"+
		"  source <(sluice completion bash)          # bash; add the line to ~/.bashrc to keep it\n"+
		"  source <(sluice completion zsh)           # zsh; or save it as _sluice in a directory of $fpath\n"+
		"  sluice completion fish | source           # fish; or save it in ~/.config/fish/completions/sluice.fish")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "completion: want one shell (bash, zsh or fish), got %d arguments", len(pos))
	}
	script, ok := completionScripts[pos[0]]
	if !ok {
		return usageError(fs, "completion: unknown shell %q: want bash, zsh or fish", pos[0])
	}
	_, err = io.WriteString(env.stdout, script)
	return err
}

var completionScripts = map[string]string{
	"bash": `# bash completion for sluice: source <(sluice completion bash)
_sluice() {
	local IFS=$'\n'
	COMPREPLY=($("${COMP_WORDS[0]}" ` + completeCommand + ` "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _sluice sluice
`,
	"zsh": `#compdef sluice
# zsh completion for sluice: source <(sluice completion zsh)
_sluice() {
	local -a candidates
	candidates=("${(@f)$(${words[1]} ` + completeCommand + ` "${(@)words[2,CURRENT]}" 2>/dev/null)}")
	candidates=(${candidates:#})
	if (( ${#candidates} )); then
		compadd -- "${candidates[@]}"
	else
		_files
	fi
}
if [[ "${funcstack[1]}" == "_sluice" ]]; then
	_sluice "$@"
else
	compdef _sluice sluice
fi
`,
	"fish": `# fish completion for sluice: sluice completion fish | source
function __sluice_complete
	set -l tokens (commandline -opc) (commandline -ct)
	$tokens[1] ` + completeCommand + ` $tokens[2..-1] 2>/dev/null
end
complete -c sluice -f -n 'test -n "$(__sluice_complete)"' -a '(__sluice_complete)'
complete -c sluice -F -n 'test -z "$(__sluice_complete)"'
`,
}

// runComplete prints the candidates for the last of args, the word being
// completed (possibly empty), one per line. Nothing printed means: let
// the shell complete file names.
func runComplete(ctx context.Context, env *cmdEnv, args []string) error {
	for _, c := range completions(ctx, args) {
		fmt.Fprintln(env.stdout, c)
	}
	return nil
}

// completions are the candidates for the last word of words, which follow
// "sluice" on the command line.
func completions(ctx context.Context, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	cmds := commands()
	var leaf *command
	i := 0
	for ; i < len(before) && leaf == nil; i++ {
		j := slices.IndexFunc(cmds, func(c command) bool { return c.name == before[i] && c.summary != "" })
		if j < 0 {
			return nil // an unknown command: nothing to offer
		}
		if cmds[j].subs == nil {
			leaf = &cmds[j]
		} else {
			cmds = cmds[j].subs()
		}
	}
	if leaf == nil {
		var out []string
		for _, c := range cmds {
			if c.summary != "" && strings.HasPrefix(c.name, cur) {
				out = append(out, c.name)
			}
		}
		return out
	}
	fs := commandFlags(ctx, leaf)
	if fs == nil {
		return nil
	}
	args := before[i:]
	// The value of a flag that takes one.
	if n := len(args); n > 0 && strings.HasPrefix(args[n-1], "-") && !strings.Contains(args[n-1], "=") {
		if f := fs.Lookup(strings.TrimLeft(args[n-1], "-")); f != nil && !isBoolFlag(f) {
			return withPrefix(flagValues(leaf.name, f.Name), cur)
		}
	}
	if strings.HasPrefix(cur, "-") {
		var out []string
		fs.VisitAll(func(f *flag.Flag) {
			if name := "--" + f.Name; strings.HasPrefix(name, cur) {
				out = append(out, name)
			}
		})
		return out
	}
	if leaf.name == "completion" {
		return withPrefix([]string{"bash", "zsh", "fish"}, cur)
	}
	return nil
}

// commandFlags learns a command's flags by running it with --help, which
// defines them and returns before doing anything.
func commandFlags(ctx context.Context, c *command) *flag.FlagSet {
	var fs *flag.FlagSet
	env := &cmdEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" },
		onFlagSet: func(f *flag.FlagSet) { fs = f }}
	_ = c.run(ctx, env, []string{"--help"})
	return fs
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagValues are the values worth offering for a flag; none means file
// names (the shell's default).
func flagValues(cmd, name string) []string {
	switch name {
	case "from":
		return []string{"latest", "trim-horizon"}
	case "to":
		return []string{"latest", "trim-horizon"}
	case "format":
		if cmd == "put" {
			return []string{"text", "json"}
		}
		return []string{"text", "json", "raw"}
	case "log-level":
		return []string{"debug", "info", "warn", "error"}
	case "log-format":
		return []string{"text", "json"}
	case "shard-limits":
		return []string{"aws", "none"}
	case "endpoint":
		return []string{localEndpoint, awsEndpoint}
	}
	return nil
}

func withPrefix(values []string, prefix string) []string {
	var out []string
	for _, v := range values {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}
