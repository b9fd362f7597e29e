//! The command line as runc reads it, rewritten into the one form clap reads. runc parses with
//! urfave/cli v1 over Go's flag package, whose rules differ from clap's: a flag takes one dash
//! or two whatever its length (`-bundle`, `--b`), a boolean takes `=false`, the last of a
//! repeated flag wins (but `-b` and `--bundle` together are an error), `-dt` is an undefined
//! flag rather than two, and a command's flags may
//! follow its arguments (urfave moves them first), except for `exec` and `ps`, where what
//! follows the container id is the program's or ps(1)'s. Global flags come before the command
//! only. What runc reads, this reads the same; what runc refuses, this refuses.

use clap::{Arg, ArgAction, Command};
use std::ffi::{OsStr, OsString};

/// runc's commands with urfave's SkipArgReorder.
const IN_ORDER: [&str; 2] = ["exec", "ps"];

/// `args` (argv[0] first) as `[global flags] COMMAND [flags] -- [arguments]`, each flag once,
/// spelled `--long[=value]`; an error for what runc refuses as a usage error.
pub fn normalize(cli: &mut Command, args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let mut args = args.into_iter();
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    let (flags, rest) = parse(&*cli, args.collect())?;
    out.extend(flags);
    let Some((name, rest)) = rest.split_first() else {
        return Ok(out);
    };
    out.push(name.clone());
    let Some(command) = name.to_str().and_then(|n| cli.find_subcommand_mut(n)) else {
        // Not a command: clap says so.
        out.extend_from_slice(rest);
        return Ok(out);
    };
    // Its arguments are there once it is built (`cli::Lazy`); the others stay unbuilt.
    command.build();
    let rest = match IN_ORDER.contains(&command.get_name()) {
        true => rest.to_vec(),
        false => reorder(command, rest),
    };
    let (flags, operands) = parse(command, rest)?;
    out.extend(flags);
    out.push("--".into());
    out.extend(operands);
    Ok(out)
}

/// Go's flag.Parse: flags up to the first argument that is not one, or up to `--`. Returns the
/// flags in clap's spelling and the arguments left; `-h` or `-help` leaves only `--help`.
fn parse(command: &Command, args: Vec<OsString>) -> Result<(Vec<OsString>, Vec<OsString>), String> {
    // Each flag given, by the name it was given as, with its values.
    let mut given: Vec<(&Arg, String, Vec<OsString>)> = Vec::new();
    let mut args = args.into_iter();
    let mut operands = Vec::new();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str().filter(|s| s.len() > 1 && s.starts_with('-')) else {
            operands.push(arg);
            break;
        };
        if text == "--" {
            break;
        }
        let name = text.strip_prefix("--").unwrap_or(&text[1..]);
        if name.starts_with(['-', '=']) {
            return Err(format!("bad flag syntax: {text}"));
        }
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (name, None),
        };
        if name == "h" || name == "help" {
            return Ok((vec!["--help".into()], vec![]));
        }
        let flag = find(command, name).ok_or_else(|| format!("flag provided but not defined: -{name}"))?;
        let value: OsString = if !flag.get_action().takes_values() {
            let on = match inline {
                None => true,
                Some(v) => go_bool(v).ok_or_else(|| format!("invalid boolean value {v:?} for -{name}"))?,
            };
            on.to_string().into()
        } else {
            match inline {
                Some(v) => v.into(),
                None => args.next().ok_or_else(|| format!("flag needs an argument: -{name}"))?,
            }
        };
        match given.iter_mut().find(|(a, ..)| a.get_id() == flag.get_id()) {
            // urfave's normalizeFlags: `-b X --bundle Y` is neither X nor Y.
            Some((_, first, _)) if *first != name => {
                return Err(format!("Cannot use two forms of the same flag: {first} {name}"))
            }
            Some((.., values)) if matches!(flag.get_action(), ArgAction::Append) => values.push(value),
            Some((.., values)) => *values = vec![value],
            None => given.push((flag, name.to_string(), vec![value])),
        }
    }
    operands.extend(args);
    let mut flags = Vec::new();
    for (arg, _, values) in given {
        let spelled = match (arg.get_long(), arg.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => continue,
        };
        if !arg.get_action().takes_values() {
            if values.last().is_some_and(|v| v == "true") {
                flags.push(spelled.into());
            }
            continue;
        }
        for value in values {
            let mut flag = OsString::from(format!("{spelled}="));
            flag.push(value);
            flags.push(flag);
        }
    }
    Ok((flags, operands))
}

/// The flag a Go flag name means: one letter is a short flag, more a long one.
fn find<'a>(command: &'a Command, name: &str) -> Option<&'a Arg> {
    let mut chars = name.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => command.get_arguments().find(|a| a.get_short() == Some(c)),
        _ => command.get_arguments().find(|a| a.get_long() == Some(name)),
    }
}

/// strconv.ParseBool.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// urfave/cli v1's reorderArgs: the command's flags, each with what may be its value (the next
/// argument unless it is a flag itself, whatever the flag's type), move before the other
/// arguments; `--` and what follows it go last, the `--` first.
fn reorder(command: &Command, args: &[OsString]) -> Vec<OsString> {
    let is_flag = |arg: &OsStr| {
        let Some(text) = arg.to_str().filter(|s| s.starts_with('-') && *s != "-" && *s != "--") else {
            return false;
        };
        let name = text.strip_prefix("--").unwrap_or(&text[1..]);
        let name = name.split('=').next().unwrap_or_default();
        name == "h" || name == "help" || find(command, name).is_some()
    };
    let (mut flags, mut rest) = (Vec::new(), Vec::new());
    let mut value_may_follow = false;
    for (i, arg) in args.iter().enumerate() {
        if value_may_follow && !is_flag(arg) {
            value_may_follow = false;
            flags.push(arg.clone());
        } else if arg == "--" {
            rest.insert(0, arg.clone());
            rest.extend_from_slice(&args[i + 1..]);
            break;
        } else if is_flag(arg) {
            flags.push(arg.clone());
            value_may_follow = !arg.to_string_lossy().contains('=');
        } else {
            rest.push(arg.clone());
        }
    }
    flags.extend(rest);
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn norm(line: &str) -> Result<String, String> {
        let args = std::iter::once("scrun")
            .chain(line.split(' '))
            .map(OsString::from)
            .collect();
        let out = normalize(&mut crate::cli::Cli::command(), args)?;
        Ok(out[1..]
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "))
    }

    #[test]
    fn reads_what_runc_reads() {
        for (line, want) in [
            ("-root /r state c1", "--root=/r state -- c1"),
            ("--debug=false list", "list --"),
            (
                "create c2 --bundle /b --pid-file=/p",
                "create --bundle=/b --pid-file=/p -- c2",
            ),
            ("create -b /x -b /b c2", "create --bundle=/b -- c2"),
            ("create -b -- c7", "create --bundle=-- -- c7"),
            ("create c7 -b /b --", "create --bundle=/b -- c7"),
            ("kill c1 CONT --all", "kill --all -- c1 CONT"),
            ("kill c1 --all CONT", "kill --all -- CONT c1"),
            (
                "exec -detach=false -env A=1 --env=B=2 c1 sh",
                "exec --env=A=1 --env=B=2 -- c1 sh",
            ),
            ("exec c1 --tty -- sh", "exec -- c1 --tty -- sh"),
            ("ps c1 -ef", "ps -- c1 -ef"),
            ("delete c1 -help", "delete --help --"),
        ] {
            assert_eq!(norm(line).as_deref(), Ok(want), "{line}");
        }
    }

    #[test]
    fn refuses_what_runc_refuses() {
        for (line, want) in [
            ("exec -dt c1 sh", "flag provided but not defined: -dt"),
            ("exec --root /r c1 sh", "flag provided but not defined: -root"),
            ("state ---x c1", "bad flag syntax: ---x"),
            ("delete --force=maybe c1", "invalid boolean value \"maybe\" for -force"),
            (
                "exec -e A=1 --env B=2 c1 sh",
                "Cannot use two forms of the same flag: e env",
            ),
            ("create --bundle", "flag needs an argument: -bundle"),
        ] {
            assert_eq!(norm(line), Err(want.to_string()), "{line}");
        }
    }
}
