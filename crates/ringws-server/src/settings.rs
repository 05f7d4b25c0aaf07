//! Where each setting comes from: a flag, then a `RINGWS_*` environment variable, then the
//! config file, then the default. Clap handles the first two and the defaults; the file's
//! values are installed as the defaults before parsing, after being checked with the same
//! value parsers as the flags, so every flag is a file key and every error names its key.

use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory, FromArgMatches};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::ArgAction;

use crate::args::Args;

/// The settings, and for `--print-config`, each one's value and origin.
pub(crate) struct Settings {
    pub(crate) args: Args,
    pub(crate) report: String,
}

/// Keys that are not settings of the server.
const NOT_IN_FILE: [&str; 4] = ["config", "print_config", "help", "version"];

/// Reads the settings from `argv`, the environment and the config file it names.
///
/// # Errors
/// A clap error (flags, environment; `--help` and `--version` too, as clap reports them), or a
/// config-file error naming the file and the key.
pub(crate) fn load(argv: Vec<OsString>) -> Result<Settings, Failure> {
    let mut cmd = Args::command();
    let mut from_file = BTreeSet::new();
    if let Some(file) = config_path(&argv) {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Failure::Config(format!("{}: {e}", file.display())))?;
        let values =
            flatten(&text).map_err(|e| Failure::Config(format!("{}: {e}", file.display())))?;
        for (key, values) in values {
            cmd = install(cmd, &key, &values)
                .map_err(|e| Failure::Config(format!("{}: {e}", file.display())))?;
            from_file.insert(key);
        }
    }
    let matches = cmd.clone().try_get_matches_from(argv).map_err(Failure::Clap)?;
    let args = Args::from_arg_matches(&matches).map_err(Failure::Clap)?;
    // In the order `--help` lists them (installing a default moves an argument to the end).
    let report = report(&Args::command(), &matches, &from_file);
    Ok(Settings { args, report })
}

/// Why the settings could not be read.
#[derive(Debug)]
pub(crate) enum Failure {
    /// From the command line or the environment (clap's own message and exit code).
    Clap(clap::Error),
    /// From the config file.
    Config(String),
}

/// `--config PATH` / `--config=PATH` on the command line, else `RINGWS_CONFIG`.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut it = argv.iter().skip(1);
    while let Some(arg) = it.next() {
        let arg = arg.to_string_lossy();
        if arg == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("RINGWS_CONFIG").map(PathBuf::from)
}

/// The file's settings as (argument id, values): top-level keys as they are, `[route.NAME]`
/// keys as `NAME_key`.
fn flatten(text: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = Vec::new();
    for (key, value) in table {
        if key == "route" {
            let toml::Value::Table(routes) = value else {
                return Err(
                    "`route` must be a table of routes ([route.echo], [route.pubsub])".into()
                );
            };
            for (route, settings) in routes {
                let toml::Value::Table(settings) = settings else {
                    return Err(format!("`route.{route}` must be a table"));
                };
                for (k, v) in settings {
                    out.push((format!("{route}_{k}"), strings(&format!("route.{route}.{k}"), v)?));
                }
            }
        } else {
            let values = strings(&key, value)?;
            out.push((key, values));
        }
    }
    Ok(out)
}

/// A TOML value as the text a flag would carry (arrays: one per element).
fn strings(key: &str, value: toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::String(s) => Ok(vec![s]),
        toml::Value::Integer(n) => Ok(vec![n.to_string()]),
        toml::Value::Boolean(b) => Ok(vec![b.to_string()]),
        toml::Value::Float(f) => Ok(vec![f.to_string()]),
        toml::Value::Array(items) => {
            items.into_iter().map(|v| strings(key, v).map(|mut s| s.remove(0))).collect()
        }
        other => Err(format!("`{key}`: a {} is not a setting's value", other.type_str())),
    }
}

/// Makes the file's value the default of argument `key`, once the argument's own parser has
/// accepted it.
fn install(cmd: Command, key: &str, values: &[String]) -> Result<Command, String> {
    let known =
        |id: &str| !NOT_IN_FILE.contains(&id) && cmd.get_arguments().any(|a| a.get_id() == id);
    if !known(key) {
        return Err(format!(
            "unknown key `{}` (see `ringws --help`: every flag is a key, with `_`)",
            shown(key)
        ));
    }
    let arg = cmd.get_arguments().find(|a| a.get_id() == key).cloned();
    let Some(arg) = arg else { return Err(format!("unknown key `{key}`")) };
    for value in values {
        check(&arg, value).map_err(|e| format!("`{}`: {e}", shown(key)))?;
    }
    let values: Vec<String> = values.to_vec();
    Ok(cmd.mut_arg(key, move |a| a.default_values(values)))
}

/// Runs `value` through the argument's own parser, alone in a probe command (no environment).
fn check(arg: &clap::Arg, value: &str) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        return match value {
            "true" | "false" => Ok(()),
            other => Err(format!("{other:?}: expected true or false")),
        };
    }
    let Some(long) = arg.get_long() else { return Ok(()) };
    let probe = Command::new("probe").no_binary_name(true).arg(arg.clone().env(None));
    let flag = format!("--{long}");
    match probe.try_get_matches_from([flag.as_str(), value]) {
        Ok(_) => Ok(()),
        Err(e) => Err(first_line(&e.to_string()).to_owned()),
    }
}

/// A key as the file writes it (a route's own keys under their table).
fn shown(key: &str) -> String {
    for route in ["echo_", "pubsub_"] {
        if let Some(rest) = key.strip_prefix(route).filter(|rest| *rest != "path") {
            return format!("route.{}.{rest}", &route[..route.len() - 1]);
        }
    }
    key.to_owned()
}

fn first_line(text: &str) -> &str {
    let text = text.strip_prefix("error: ").unwrap_or(text);
    text.lines().next().unwrap_or(text)
}

/// Every setting with its effective value and origin, as TOML with comments (usable as a
/// config file: route settings are dotted keys).
fn report(cmd: &Command, matches: &ArgMatches, from_file: &BTreeSet<String>) -> String {
    let mut out = String::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_IN_FILE.contains(&id) {
            continue;
        }
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "env",
            _ if from_file.contains(id) => "file",
            _ => "default",
        };
        let value = match values.as_slice() {
            [] => {
                out.push_str(&format!("# {} is not set  # {source}\n", shown(id)));
                continue;
            }
            [one] if arg.get_num_args().is_none_or(|n| n.max_values() == 1) => quoted(one),
            many => format!("[{}]", many.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(", ")),
        };
        out.push_str(&format!("{} = {value}  # {source}\n", shown(id)));
    }
    out
}

fn quoted(v: &str) -> String {
    if v.parse::<f64>().is_ok() || v == "true" || v == "false" {
        v.to_owned()
    } else {
        format!("{v:?}")
    }
}

/// Reads settings for a test: `argv` after the program name, `file` written to a temporary path.
#[cfg(test)]
fn load_with(file: Option<&str>, flags: &[&str]) -> Result<Settings, Failure> {
    let mut argv: Vec<OsString> = vec!["ringws".into()];
    // One file per call: the tests run in parallel in one process.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("ringws-settings-{}-{n}.toml", std::process::id());
    let path = std::env::temp_dir().join(name);
    if let Some(text) = file {
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        argv.push("--config".into());
        argv.push(path.clone().into());
    }
    argv.extend(flags.iter().map(OsString::from));
    let result = load(argv);
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests;
