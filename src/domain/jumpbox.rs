//! The SSH jumpbox's text interface: the instance menu lines, what the user typed at
//! the menu prompt, the command of an SSH exec request, and the small line editor the
//! prompt runs on (the client's terminal is in raw mode: the server echoes). Also what
//! a running jumpbox is known by (`Jumpbox`).

use std::net::SocketAddr;

use super::instances::instance_name;

/// A running jumpbox: where it listens and its host key (the settings page shows both;
/// the NAT forwards keep off its port).
#[derive(Clone, Debug)]
pub struct Jumpbox {
    pub addr: SocketAddr,
    /// the host key's SHA256 fingerprint
    pub fingerprint: String,
}

/// The command that opens a shell in `instance` through the jumpbox, or its menu when
/// none is named (the instance page and the home page show it with a copy button).
/// `host` is the Host the browser reached the panel by; its port is dropped (an IPv6
/// address keeps its brackets).
pub fn ssh_command(port: u16, user: &str, host: &str, instance: Option<&str>) -> String {
    let host = host_only(host);
    match instance {
        Some(name) => format!("ssh -p {port} -t {user}@{host} {name}"),
        None => format!("ssh -p {port} {user}@{host}"),
    }
}

/// `panel.example.com:8080` → `panel.example.com`, `[::1]:8080` → `[::1]`.
pub fn host_only(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// One instance as the menu shows it.
#[derive(Clone, Copy, Debug)]
pub struct MenuEntry<'a> {
    pub name: &'a str,
    pub container_id: &'a str,
    pub node: &'a str,
    /// the container status, already translated
    pub status: &'a str,
    /// the owner's username, shown to admins only
    pub owner: Option<&'a str>,
}

/// `<n> <name>-<container id, 12 characters>-<node>`, then the status (and, for
/// admins, the owner), separated by two spaces.
pub fn menu_line(n: usize, e: &MenuEntry) -> String {
    let short = e.container_id.get(..12).unwrap_or(e.container_id);
    let mut line = format!("{n} {}-{short}-{}  {}", e.name, e.node, e.status);
    if let Some(owner) = e.owner {
        line.push_str("  ");
        line.push_str(owner);
    }
    line
}

/// What a line typed at the menu prompt asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// nothing typed: show the prompt again
    Nothing,
    Quit,
    /// a listed number (1-based)
    Number(usize),
    /// a number outside 1..=count
    OutOfRange,
    /// an instance name (not necessarily one the user may see)
    Name(String),
    /// neither a number nor a possible name
    Invalid,
}

pub fn parse_choice(line: &str, count: usize) -> Choice {
    let t = line.trim();
    if t.is_empty() {
        return Choice::Nothing;
    }
    if matches!(t, "q" | "Q" | "quit" | "exit") {
        return Choice::Quit;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.parse::<usize>() {
            Ok(n) if (1..=count).contains(&n) => Choice::Number(n),
            _ => Choice::OutOfRange,
        };
    }
    match instance_name(t) {
        Ok(name) => Choice::Name(name),
        Err(_) => Choice::Invalid,
    }
}

/// What an SSH exec request names: `<instance>` (a shell), `<instance> -- <command>` or
/// `<instance> <command>` (one command).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub instance: String,
    pub command: Option<String>,
}

/// A login name that also names the instance: `mia@train-1` → ("mia", Some("train-1")).
/// `ssh mia@train-1@panel`, WinSCP and PuTTY split the host off at the last `@`; the
/// panel's user names hold no `@`, so the rest splits at its first.
pub fn split_login(user: &str) -> (&str, Option<&str>) {
    match user.split_once('@') {
        Some((account, instance)) => (account, Some(instance).filter(|i| !i.is_empty())),
        None => (user, None),
    }
}

/// Which instance a channel is for, when it names one or the user has just one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which<'a, T> {
    /// named at login (`mia@train-1`) or by the request itself
    Named(&'a str),
    /// none named, and the user may open exactly this one
    Only(&'a T),
    /// none named, and the user may open none or several
    Unnamed,
}

/// The instance a non-interactive channel (a forward; sftp) is for: the name given,
/// else the user's only instance. `listed`: the instances in the user's scope, at
/// least two of them when there are more (the rest does not matter).
pub fn which_instance<'a, T>(named: Option<&'a str>, listed: &'a [T]) -> Which<'a, T> {
    match (named, listed) {
        (Some(name), _) => Which::Named(name),
        (None, [only]) => Which::Only(only),
        (None, _) => Which::Unnamed,
    }
}

/// What a session asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// no instance named: the numbered menu
    Menu,
    /// one instance: a shell, or one command
    Direct(Target),
    /// an exec request that names no instance
    Usage,
}

/// The instance named at login (`mia@train-1`) and the exec request, if any: with an
/// instance named at login the whole exec request is the command.
pub fn request(named: Option<&str>, exec: Option<&str>) -> Request {
    match (named, exec) {
        (None, None) => Request::Menu,
        (None, Some(line)) => parse_exec(line).map_or(Request::Usage, Request::Direct),
        (Some(instance), line) => Request::Direct(Target {
            instance: instance.to_string(),
            command: line
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from),
        }),
    }
}

/// None when the request does not start with a possible instance name.
pub fn parse_exec(request: &str) -> Option<Target> {
    let t = request.trim();
    let (first, rest) = match t.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim_start()),
        None => (t, ""),
    };
    let instance = instance_name(first).ok()?;
    let rest = match rest.strip_prefix("--") {
        Some(after) if after.is_empty() || after.starts_with(char::is_whitespace) => {
            after.trim_start()
        }
        _ => rest,
    };
    let command = (!rest.trim().is_empty()).then(|| rest.trim_end().to_string());
    Some(Target { instance, command })
}

/// What the line editor saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// Enter: the line typed
    Line(String),
    /// Ctrl-C
    Interrupt,
    /// Ctrl-D on an empty line
    EndOfInput,
}

/// The longest line the prompt keeps (bytes).
const LINE_MAX: usize = 256;

/// A minimal line editor for a raw-mode terminal: printable text is echoed, Backspace
/// and Ctrl-U erase, Enter ends the line; escape sequences (arrow keys) and other
/// control characters are ignored. Multi-byte UTF-8 may arrive split across reads.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: String,
    /// the start of a UTF-8 character whose other bytes have not arrived yet
    partial: Vec<u8>,
    escape: Escape,
    /// the previous byte was CR (so a following LF is the same Enter)
    after_cr: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// ESC seen
    Start,
    /// inside `ESC [ …` or `ESC O …` until the final byte
    Sequence,
}

impl LineEditor {
    /// Feeds keystrokes up to the first key that ends the prompt (the rest is not
    /// consumed: it may be meant for the shell the choice opens). Returns that key, if
    /// any, and how many bytes were consumed; echo is appended to `echo`.
    pub fn feed(&mut self, bytes: &[u8], echo: &mut Vec<u8>) -> (Option<Key>, usize) {
        for (i, &b) in bytes.iter().enumerate() {
            let key = self.byte(b, echo);
            if key.is_some() {
                return (key, i + 1);
            }
        }
        (None, bytes.len())
    }

    fn byte(&mut self, b: u8, echo: &mut Vec<u8>) -> Option<Key> {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if b == b'[' || b == b'O' {
                    Escape::Sequence
                } else {
                    Escape::None
                };
                return None;
            }
            Escape::Sequence => {
                if (0x40..=0x7e).contains(&b) {
                    self.escape = Escape::None;
                }
                return None;
            }
            Escape::None => {}
        }
        match b {
            b'\r' | b'\n' => {
                if b == b'\n' && after_cr {
                    return None;
                }
                self.after_cr = b == b'\r';
                self.partial.clear();
                echo.extend_from_slice(b"\r\n");
                return Some(Key::Line(std::mem::take(&mut self.line)));
            }
            0x7f | 0x08 => {
                self.partial.clear();
                if self.line.pop().is_some() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
            }
            0x15 => {
                for _ in self.line.chars() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                self.line.clear();
            }
            0x03 => {
                self.line.clear();
                self.partial.clear();
                echo.extend_from_slice(b"^C\r\n");
                return Some(Key::Interrupt);
            }
            0x04 => {
                if self.line.is_empty() {
                    return Some(Key::EndOfInput);
                }
            }
            0x1b => self.escape = Escape::Start,
            b if b < 0x20 => {}
            b => self.printable(b, echo),
        }
        None
    }

    fn printable(&mut self, b: u8, echo: &mut Vec<u8>) {
        self.partial.push(b);
        match std::str::from_utf8(&self.partial) {
            Ok(s) => {
                if self.line.len() + s.len() <= LINE_MAX {
                    self.line.push_str(s);
                    echo.extend_from_slice(s.as_bytes());
                }
                self.partial.clear();
            }
            // incomplete: wait for the rest (at most 4 bytes per character)
            Err(e) if e.error_len().is_none() && self.partial.len() < 4 => {}
            Err(_) => self.partial.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_lines_have_the_agreed_form() {
        let e = MenuEntry {
            name: "train-1",
            container_id: "0123456789abcdef0123",
            node: "gpu-a",
            status: "运行中",
            owner: None,
        };
        assert_eq!(menu_line(1, &e), "1 train-1-0123456789ab-gpu-a  运行中");
        let admin = MenuEntry {
            owner: Some("mia"),
            container_id: "",
            ..e
        };
        assert_eq!(menu_line(12, &admin), "12 train-1--gpu-a  运行中  mia");
    }

    #[test]
    fn choices() {
        for (typed, want) in [
            ("", Choice::Nothing),
            ("   ", Choice::Nothing),
            ("q", Choice::Quit),
            (" exit ", Choice::Quit),
            ("1", Choice::Number(1)),
            (" 3 ", Choice::Number(3)),
            ("0", Choice::OutOfRange),
            ("4", Choice::OutOfRange),
            ("99999999999999999999999", Choice::OutOfRange),
            ("train-1", Choice::Name("train-1".into())),
            ("1abc", Choice::Invalid),
            ("rm -rf", Choice::Invalid),
            ("-1", Choice::Invalid),
        ] {
            assert_eq!(parse_choice(typed, 3), want, "{typed:?}");
        }
    }

    #[test]
    fn exec_requests() {
        let t = |i: &str, c: Option<&str>| {
            Some(Target {
                instance: i.into(),
                command: c.map(Into::into),
            })
        };
        assert_eq!(parse_exec("box"), t("box", None));
        assert_eq!(parse_exec(" box "), t("box", None));
        assert_eq!(parse_exec("box -- exit 3"), t("box", Some("exit 3")));
        assert_eq!(parse_exec("box --"), t("box", None));
        assert_eq!(parse_exec("box ls -la /"), t("box", Some("ls -la /")));
        assert_eq!(parse_exec("box --version"), t("box", Some("--version")));
        assert_eq!(
            parse_exec("box -- echo 'a  b'"),
            t("box", Some("echo 'a  b'"))
        );
        assert_eq!(parse_exec(""), None);
        assert_eq!(parse_exec("../etc -- id"), None);
        assert_eq!(parse_exec("1box"), None);
    }

    /// Feeds everything, collecting every key.
    fn typed(e: &mut LineEditor, mut bytes: &[u8]) -> (Vec<Key>, String) {
        let (mut keys, mut echo) = (Vec::new(), Vec::new());
        while !bytes.is_empty() {
            let (key, used) = e.feed(bytes, &mut echo);
            keys.extend(key);
            bytes = &bytes[used..];
        }
        (keys, String::from_utf8_lossy(&echo).into_owned())
    }

    #[test]
    fn the_line_editor_stops_after_the_first_line() {
        let mut e = LineEditor::default();
        let mut echo = Vec::new();
        let (key, used) = e.feed(b"2\recho hi\r", &mut echo);
        assert_eq!(key, Some(Key::Line("2".into())));
        assert_eq!(used, 2, "the rest is for the shell");
    }

    #[test]
    fn the_line_editor_echoes_edits_and_ends_lines() {
        let mut e = LineEditor::default();
        let (keys, echo) = typed(&mut e, b"12\x7f3\r");
        assert_eq!(keys, vec![Key::Line("13".into())]);
        assert_eq!(echo, "12\x08 \x083\r\n");
        // CR LF is one Enter; a lone LF is one too
        let (keys, _) = typed(&mut e, b"q\r\n\nx");
        assert_eq!(keys, vec![Key::Line("q".into()), Key::Line(String::new())]);
        let (keys, echo) = typed(&mut e, b"\x15\x03");
        assert_eq!(keys, vec![Key::Interrupt]);
        assert_eq!(echo, "\x08 \x08^C\r\n");
        let (keys, _) = typed(&mut e, b"\x04");
        assert_eq!(keys, vec![Key::EndOfInput]);
    }

    #[test]
    fn the_line_editor_ignores_escape_sequences_and_joins_split_utf8() {
        let mut e = LineEditor::default();
        let (keys, echo) = typed(&mut e, b"\x1b[A\x1bOB1");
        assert!(keys.is_empty());
        assert_eq!(echo, "1");
        let bytes = "名".as_bytes();
        typed(&mut e, &bytes[..1]);
        let (keys, echo) = typed(&mut e, &[&bytes[1..], b"\r"].concat());
        assert_eq!(keys, vec![Key::Line("1名".into())]);
        assert_eq!(echo, "名\r\n");
        // Backspace removes the whole character
        let (keys, _) = typed(&mut e, "名\x7f2\r".as_bytes());
        assert_eq!(keys, vec![Key::Line("2".into())]);
    }

    #[test]
    fn the_ssh_command_names_the_panel_host_without_its_port() {
        assert_eq!(
            ssh_command(2026, "mia", "panel.example.com:8080", Some("train-1")),
            "ssh -p 2026 -t mia@panel.example.com train-1"
        );
        assert_eq!(
            ssh_command(2026, "mia", "10.0.0.5", None),
            "ssh -p 2026 mia@10.0.0.5"
        );
        assert_eq!(
            ssh_command(22, "mia", "[2001:db8::1]:443", Some("a")),
            "ssh -p 22 -t mia@[2001:db8::1] a"
        );
        assert_eq!(
            ssh_command(22, "mia", "2001:db8::1", Some("a")),
            "ssh -p 22 -t mia@2001:db8::1 a"
        );
    }

    #[test]
    fn the_instance_may_ride_on_the_login_name() {
        assert_eq!(split_login("mia@train-1"), ("mia", Some("train-1")));
        assert_eq!(split_login("mia"), ("mia", None));
        assert_eq!(split_login("mia@"), ("mia", None));
        assert_eq!(split_login("mia@a@b"), ("mia", Some("a@b")));
    }

    #[test]
    fn a_user_with_one_instance_needs_no_name() {
        assert_eq!(which_instance(Some("a"), &[1, 2]), Which::Named("a"));
        assert_eq!(which_instance(Some("a"), &[] as &[i32]), Which::Named("a"));
        assert_eq!(which_instance(None, &[7]), Which::Only(&7));
        assert_eq!(which_instance(None, &[7, 8]), Which::Unnamed);
        assert_eq!(which_instance(None, &[] as &[i32]), Which::Unnamed);
    }

    #[test]
    fn a_session_asks_for_the_menu_or_one_instance() {
        let direct = |i: &str, c: Option<&str>| {
            Request::Direct(Target {
                instance: i.into(),
                command: c.map(String::from),
            })
        };
        assert_eq!(request(None, None), Request::Menu);
        assert_eq!(request(None, Some("box -- id")), direct("box", Some("id")));
        assert_eq!(request(None, Some("-x")), Request::Usage);
        assert_eq!(request(Some("box"), None), direct("box", None));
        // named at login: the whole exec request is the command
        assert_eq!(
            request(Some("box"), Some("ls -l /")),
            direct("box", Some("ls -l /"))
        );
        assert_eq!(request(Some("box"), Some("  ")), direct("box", None));
    }
}
