//! One SSH session channel of a logged-in user. It waits for the requests that set it
//! up (pty, env, then shell or exec), then runs either the numbered instance menu or a
//! direct entry (`ssh … <instance> [-- <command>]`), and bridges the channel to a
//! `docker exec` in the chosen container until one side ends.
//!
//! The channel's messages are drained into a short queue by a task of their own. When a
//! program reads its input slowly, the bridge (ops/bridge.rs) stops taking events, the
//! queue fills, the drain task waits, then russh's own channel queue fills and its
//! connection stops reading the socket: the client is held back by TCP, and nothing is
//! dropped or buffered without bound (at most both queues: ~130 packets of ≤ 32 KiB).
//!
//! Errors and refusals go to the client's stderr (extended data), its program's output
//! to stdout and stderr as the program wrote them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::mpsc::{Receiver, channel};
use tokio::time::Instant;

use super::login::{Barred, Shared};
use super::sftp;
use crate::domain::access::Role;
use crate::domain::container::{Chunk, Program, TermSize};
use crate::domain::ids::InstanceId;
use crate::domain::jumpbox::{
    Choice, Key, LineEditor, MenuEntry, Request, Target, menu_line, parse_choice, request,
};
use crate::i18n::{self, Lang};
use crate::ops::bridge::{self, ClientGone, ClientIn, ClientOut, Ended, FromClient};
use crate::ops::views::InstanceView;
use crate::ops::{self, OpsError};

/// Events the drain task may hold while the bridge is busy writing input.
const EVENT_QUEUE: usize = 32;
/// Exit status for the jumpbox's own refusals (as OpenSSH uses 255 for its own errors).
const REFUSED: u32 = 255;

/// What the client sent on the channel.
#[derive(Debug)]
enum Event {
    Data(Bytes),
    Eof,
    Closed,
    Pty(TermSize),
    Resize(TermSize),
    Env(String, String),
    Shell,
    Exec(Vec<u8>),
    Subsystem(String),
}

/// Drains the channel's messages into a short queue of events (it waits when full).
fn events(mut rx: ChannelReadHalf) -> Receiver<Event> {
    let (tx, out) = channel(EVENT_QUEUE);
    tokio::spawn(async move {
        while let Some(msg) = rx.wait().await {
            let ev = match msg {
                ChannelMsg::Data { data } => Event::Data(data),
                ChannelMsg::Eof => Event::Eof,
                ChannelMsg::Close => Event::Closed,
                ChannelMsg::RequestPty {
                    col_width,
                    row_height,
                    ..
                } => Event::Pty(size(col_width, row_height)),
                ChannelMsg::WindowChange {
                    col_width,
                    row_height,
                    ..
                } => Event::Resize(size(col_width, row_height)),
                ChannelMsg::SetEnv {
                    variable_name,
                    variable_value,
                    ..
                } => Event::Env(variable_name, variable_value),
                ChannelMsg::RequestShell { .. } => Event::Shell,
                ChannelMsg::Exec { command, .. } => Event::Exec(command),
                ChannelMsg::RequestSubsystem { name, .. } => Event::Subsystem(name),
                _ => continue,
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Closed).await;
    });
    out
}

/// A pty size from the client; 0 (a client whose own input is not a terminal) means
/// "unknown": 80×24.
fn size(cols: u32, rows: u32) -> TermSize {
    if cols == 0 || rows == 0 {
        return TermSize::default();
    }
    let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
    TermSize::clamped(clamp(cols), clamp(rows))
}

/// The client side of the channel: its events (with the idle deadline), its writer,
/// its terminal and language.
struct Client {
    events: Receiver<Event>,
    out: ChannelWriteHalf<Msg>,
    /// the client's terminal, when it asked for one (then we echo at the menu)
    pty: Option<TermSize>,
    lang: Lang,
    idle: Duration,
    deadline: Instant,
    /// keystrokes typed after the menu choice, for the shell it opens
    typeahead: Vec<u8>,
    editor: LineEditor,
}

enum Next {
    Event(Event),
    Idle,
}

/// The client went away: nothing more can be said.
struct Gone;

impl Client {
    /// The next event, or Idle when nothing moved either way for `idle`.
    async fn next(&mut self) -> Next {
        tokio::select! {
            ev = self.events.recv() => {
                self.touch();
                Next::Event(ev.unwrap_or(Event::Closed))
            }
            _ = tokio::time::sleep_until(self.deadline) => Next::Idle,
        }
    }

    fn touch(&mut self) {
        self.deadline = Instant::now() + self.idle;
    }

    fn t<'k>(&self, key: &'k str) -> &'k str {
        i18n::t(self.lang, key)
    }

    /// Text for the client's screen: line ends become CR LF on a terminal.
    async fn say(&self, text: &str) -> Result<(), Gone> {
        let text = if self.pty.is_some() {
            text.replace('\n', "\r\n")
        } else {
            text.to_string()
        };
        self.write(false, Bytes::from(text)).await
    }

    async fn line(&self, text: &str) -> Result<(), Gone> {
        self.say(&format!("{text}\n")).await
    }

    /// A line on the client's stderr: refusals and errors.
    async fn complain(&self, text: &str) -> Result<(), Gone> {
        let text = format!("{text}\n");
        let text = if self.pty.is_some() {
            text.replace('\n', "\r\n")
        } else {
            text
        };
        self.write(true, Bytes::from(text)).await
    }

    /// Refuses with a line on stderr, then the jumpbox's own exit status.
    async fn refuse(&self, text: &str) -> Ending {
        match self.complain(text).await {
            Ok(()) => Ending::Status(REFUSED),
            Err(gone) => gone.into(),
        }
    }

    async fn write(&self, stderr: bool, bytes: Bytes) -> Result<(), Gone> {
        let sent = if stderr {
            self.out.extended_data_bytes(1, bytes).await
        } else {
            self.out.data_bytes(bytes).await
        };
        sent.map_err(|_| Gone)
    }

    /// The next key at the menu prompt (with echo on a terminal).
    async fn key(&mut self) -> Result<Key, Ending> {
        loop {
            let pending = std::mem::take(&mut self.typeahead);
            if !pending.is_empty() {
                let mut echo = Vec::new();
                let (key, used) = self.editor.feed(&pending, &mut echo);
                self.typeahead = pending[used..].to_vec();
                if self.pty.is_some() && !echo.is_empty() {
                    self.write(false, Bytes::from(echo))
                        .await
                        .map_err(|_| Ending::Gone)?;
                }
                if let Some(key) = key {
                    return Ok(key);
                }
                continue;
            }
            match self.next().await {
                Next::Event(Event::Data(bytes)) => self.typeahead = bytes.to_vec(),
                Next::Event(Event::Resize(s)) => self.pty = self.pty.map(|_| s),
                Next::Event(Event::Eof) => return Ok(Key::EndOfInput),
                Next::Event(Event::Closed) => return Err(Ending::Gone),
                Next::Event(_) => {}
                Next::Idle => return Err(self.idle_out().await),
            }
        }
    }

    async fn idle_out(&self) -> Ending {
        let secs = self.idle.as_secs().to_string();
        let _ = self
            .line(&self.t("jumpbox.idle").replace("{secs}", &secs))
            .await;
        Ending::Close
    }

    /// Ends the channel: the exit status (when there is one), EOF, close.
    async fn finish(&self, ending: Ending) {
        if matches!(ending, Ending::Gone) {
            return;
        }
        if let Ending::Status(code) = ending {
            let _ = self.out.exit_status(code).await;
        }
        let _ = self.out.eof().await;
        let _ = self.out.close().await;
    }
}

/// How the channel ends.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// with this exit status
    Status(u32),
    /// without one (idle, revoked)
    Close,
    /// the client is gone
    Gone,
}

impl From<Gone> for Ending {
    fn from(_: Gone) -> Self {
        Ending::Gone
    }
}

pub async fn run(shared: Arc<Shared>, channel: Channel<Msg>) {
    let (rx, out) = channel.split();
    let idle = Duration::from_secs(shared.state.settings.jumpbox.idle_timeout_secs);
    let mut client = Client {
        events: events(rx),
        out,
        pty: None,
        lang: Lang::Zh,
        idle,
        deadline: Instant::now() + idle,
        typeahead: Vec::new(),
        editor: LineEditor::default(),
    };
    // set-up: pty and env come first, then shell, exec or a subsystem
    let start = loop {
        match client.next().await {
            Next::Event(Event::Pty(s)) => client.pty = Some(s),
            Next::Event(Event::Resize(s)) => client.pty = client.pty.map(|_| s),
            Next::Event(Event::Env(name, value)) => {
                if matches!(name.as_str(), "LANG" | "LC_ALL" | "LC_MESSAGES") {
                    client.lang = lang_of(&value);
                }
            }
            Next::Event(Event::Shell) => break Start::Shell,
            Next::Event(Event::Exec(command)) => break Start::Exec(command),
            Next::Event(Event::Subsystem(name)) => break Start::Subsystem(name),
            Next::Event(Event::Data(_) | Event::Eof) => {}
            Next::Event(Event::Closed) => return,
            Next::Idle => return client.finish(Ending::Close).await,
        }
    };
    let ending = match (refusal(&shared, &client), start) {
        (Some(text), _) => client.refuse(&text).await,
        (None, Start::Subsystem(name)) if name == "sftp" => files(&shared, &mut client).await,
        (None, Start::Subsystem(_)) => client.refuse(client.t("jumpbox.no_subsystem")).await,
        (None, start) => {
            let exec = match start {
                Start::Exec(c) => Some(String::from_utf8_lossy(&c).into_owned()),
                _ => None,
            };
            match request(shared.login.instance.as_deref(), exec.as_deref()) {
                Request::Menu => menu(&shared, &mut client).await,
                Request::Direct(target) => direct(&shared, &mut client, target).await,
                Request::Usage => client.refuse(client.t("jumpbox.usage")).await,
            }
        }
    };
    client.finish(ending).await;
}

/// What the client asked the channel for.
enum Start {
    Shell,
    Exec(Vec<u8>),
    Subsystem(String),
}

/// The `sftp` subsystem (sftp, scp): the channel's bytes go to the SFTP server
/// (sftp.rs) until the client ends it or it idles out; then its session rows close.
async fn files(shared: &Arc<Shared>, client: &mut Client) -> Ending {
    let events = std::mem::replace(&mut client.events, channel(1).1);
    let data = |ev: Event| match ev {
        Event::Data(bytes) => Some(Some(bytes)),
        Event::Eof | Event::Closed => Some(None),
        _ => None,
    };
    let writer = client.out.make_writer();
    let (io, idled) = sftp::ChannelIo::new(events, data, writer, client.idle);
    let records = sftp::Records::default();
    let (done, ended) = tokio::sync::oneshot::channel::<()>();
    let server = sftp::Files::new(Arc::clone(shared), Arc::clone(&records), done);
    russh_sftp::server::run(io, server).await;
    // the server's task ends (and drops `done`) when the client's input does
    let _ = ended.await;
    if idled.load(std::sync::atomic::Ordering::Acquire) {
        sftp::close_records(shared, &records, "idle").await;
        return Ending::Close;
    }
    sftp::close_records(shared, &records, "client").await;
    Ending::Status(0)
}

/// `en…` picks English; anything else (zh_CN.UTF-8, C.UTF-8, unset) the default, Chinese.
fn lang_of(value: &str) -> Lang {
    if value.starts_with("en") {
        Lang::En
    } else {
        Lang::Zh
    }
}

/// Why this login may not use the jumpbox at all.
fn refusal(shared: &Shared, client: &Client) -> Option<String> {
    Some(match shared.barred()? {
        Barred::MustChangePassword => client.t("jumpbox.must_change").to_string(),
        Barred::TooMany(n) => client.t("jumpbox.too_many").replace("{n}", &n.to_string()),
    })
}

/// The numbered menu: list, read a choice, connect, and back to the list when the
/// shell ends.
async fn menu(shared: &Shared, client: &mut Client) -> Ending {
    let welcome = client
        .t("jumpbox.welcome")
        .replace("{user}", &shared.login.username);
    if let Err(gone) = client.line(&welcome).await {
        return gone.into();
    }
    loop {
        if let Err(ending) = menu_round(shared, client).await {
            return ending;
        }
    }
}

/// One round of the menu: the list, a choice, and the shell it opens. `Err`: the
/// channel ends.
async fn menu_round(shared: &Shared, client: &mut Client) -> Result<(), Ending> {
    let list = match load_menu(shared).await {
        Ok(list) => list,
        Err(e) => return Err(menu_failed(client, &e).await),
    };
    show(shared, client, &list).await?;
    let (choice, typed) = read_choice(client, list.len()).await?;
    match pick(shared, client, &list, choice, &typed).await? {
        Some(inst) => enter(shared, client, &inst).await,
        None => Ok(()),
    }
}

/// The menu could not be listed: say why and end.
async fn menu_failed(client: &Client, e: &OpsError) -> Ending {
    log::error!("jumpbox menu: {e}");
    let text = client
        .t("jumpbox.failed")
        .replace("{name}", "")
        .replace("{error}", &e.to_string());
    client.refuse(&text).await
}

/// Prompts until a line says something (the end of the input is a quit); the choice
/// and the line typed.
async fn read_choice(client: &mut Client, count: usize) -> Result<(Choice, String), Ending> {
    loop {
        client.say(client.t("jumpbox.prompt")).await?;
        match client.key().await? {
            Key::Line(line) => match parse_choice(&line, count) {
                Choice::Nothing => {}
                other => return Ok((other, line)),
            },
            Key::Interrupt => {}
            Key::EndOfInput => return Ok((Choice::Quit, String::new())),
        }
    }
}

/// The instance `choice` names, as it is now; None (once the user is told why) when
/// there is none, for the menu to show again. A quit ends the channel.
async fn pick(
    shared: &Shared,
    client: &Client,
    list: &[InstanceView],
    choice: Choice,
    typed: &str,
) -> Result<Option<InstanceView>, Ending> {
    let (wanted, found) = match choice {
        Choice::Quit => {
            client.line(client.t("jumpbox.bye")).await?;
            return Err(Ending::Status(0));
        }
        Choice::Number(n) => match list.get(n - 1) {
            Some(inst) => (
                inst.name.clone(),
                reload(shared, Some(inst.id), &inst.name).await,
            ),
            None => (String::new(), Err(OpsError::NotFound)),
        },
        Choice::Name(name) => {
            let found = reload(shared, None, &name).await;
            (name, found)
        }
        Choice::OutOfRange => {
            let text = client
                .t("jumpbox.out_of_range")
                .replace("{input}", typed.trim())
                .replace("{count}", &list.len().to_string());
            client.line(&text).await?;
            return Ok(None);
        }
        Choice::Invalid | Choice::Nothing => {
            let text = client
                .t("jumpbox.not_a_number")
                .replace("{input}", typed.trim());
            client.line(&text).await?;
            return Ok(None);
        }
    };
    match found {
        Ok(inst) => Ok(Some(inst)),
        Err(e) => {
            client.line(&explain(client, &wanted, None, &e)).await?;
            Ok(None)
        }
    }
}

/// A shell in the chosen instance, then a line on how it ended; `Err` when the channel
/// ends with it.
async fn enter(shared: &Shared, client: &mut Client, inst: &InstanceView) -> Result<(), Ending> {
    match bridge(shared, client, inst, None).await {
        Bridged::Exited(code) => {
            let code = code.map_or("?".to_string(), |c| c.to_string());
            let text = client
                .t("jumpbox.left")
                .replace("{name}", &inst.name)
                .replace("{code}", &code);
            client.line(&format!("\n{text}")).await?;
        }
        Bridged::Refused(text) => client.complain(&text).await?,
        Bridged::Ended(ending) => return Err(ending),
    }
    Ok(())
}

/// `ssh … <instance>` (a shell), `ssh … <instance> -- <command>` or the instance named at
/// login (`ssh user@<instance>@host [command]`): no menu, and the channel ends with the
/// program's exit status.
async fn direct(shared: &Shared, client: &mut Client, target: Target) -> Ending {
    let inst = match reload(shared, None, &target.instance).await {
        Ok(inst) => inst,
        Err(e) => {
            return client
                .refuse(&explain(client, &target.instance, None, &e))
                .await;
        }
    };
    match bridge(shared, client, &inst, target.command.as_deref()).await {
        // a program killed by a signal has no code: 255 as OpenSSH reports it
        Bridged::Exited(code) => {
            Ending::Status(code.and_then(|c| u32::try_from(c).ok()).unwrap_or(REFUSED))
        }
        Bridged::Refused(text) => client.refuse(&text).await,
        Bridged::Ended(ending) => ending,
    }
}

/// The instances of the menu, oldest first, at most `jumpbox.menu_limit`.
async fn load_menu(shared: &Shared) -> Result<Vec<InstanceView>, OpsError> {
    let limit = shared.state.settings.jumpbox.menu_limit;
    ops::instances::menu(&shared.state, &shared.login.actor, limit).await
}

async fn show(shared: &Shared, client: &Client, list: &[InstanceView]) -> Result<(), Gone> {
    if list.is_empty() {
        return client.line(client.t("jumpbox.none")).await;
    }
    let admin = shared.login.actor.role == Role::Admin;
    let mut text = String::new();
    text.push_str(client.t(if admin {
        "jumpbox.header_admin"
    } else {
        "jumpbox.header"
    }));
    text.push('\n');
    for (i, inst) in list.iter().enumerate() {
        let status = inst.status_key();
        let entry = MenuEntry {
            name: &inst.name,
            container_id: &inst.container_id,
            node: &inst.node_name,
            status: client.t(status),
            owner: admin.then_some(inst.owner_name.as_str()),
        };
        text.push_str(&menu_line(i + 1, &entry));
        text.push('\n');
    }
    let limit = shared.state.settings.jumpbox.menu_limit;
    if i64::try_from(list.len()).is_ok_and(|n| n >= limit) {
        text.push_str(&client.t("jumpbox.more").replace("{n}", &limit.to_string()));
        text.push('\n');
    }
    client.say(&text).await
}

/// The instance as it is now, loaded with the user's scope (someone else's is not
/// found): by id (a menu number) or by name.
async fn reload(
    shared: &Shared,
    id: Option<InstanceId>,
    name: &str,
) -> Result<InstanceView, OpsError> {
    ops::instances::lookup(&shared.state, &shared.login.actor, id, name).await
}

/// A clear line for why the instance `name` cannot be entered (`inst` when it was found).
fn explain(client: &Client, name: &str, inst: Option<&InstanceView>, e: &OpsError) -> String {
    let node = inst.map_or("", |i| i.node_name.as_str());
    let fill = |key: &str, error: &str| {
        client
            .t(key)
            .replace("{name}", name)
            .replace("{node}", node)
            .replace("{error}", error)
    };
    match e {
        OpsError::NotFound => fill("jumpbox.not_found", ""),
        OpsError::Refused("stream.not_running" | "instance.not_ready") => {
            let status = inst.map_or(String::new(), |i| client.t(i.status_key()).to_string());
            fill("jumpbox.not_running", "").replace("{status}", &status)
        }
        OpsError::Refused(key) => fill("jumpbox.failed", client.t(key)),
        e if e.engine_unreachable() => fill("jumpbox.unreachable", &e.to_string()),
        OpsError::Docker(d) => fill("jumpbox.failed", &d.to_string()),
        other => {
            log::error!("jumpbox: {other}");
            fill("jumpbox.failed", client.t("stream.failed"))
        }
    }
}

/// How a bridge to a container ended.
enum Bridged {
    /// the program ended, with its exit code when the engine recorded one
    Exited(Option<i64>),
    /// it could not be opened: the line to show
    Refused(String),
    /// the channel must end too (client gone, idle, revoked)
    Ended(Ending),
}

/// Runs a shell (`command` None) or one command in the instance's container, on a TTY
/// when the client has one, through the exec bridge (ops/bridge.rs) until one side ends.
async fn bridge(
    shared: &Shared,
    client: &mut Client,
    inst: &InstanceView,
    command: Option<&str>,
) -> Bridged {
    let state = &shared.state;
    let login = &shared.login;
    // the same checks as an open web terminal: user still valid, role has the terminal
    // route, instance still in scope
    match ops::streams::still_allowed(state, &login.holder, inst.id).await {
        Ok(true) => {}
        Ok(false) => {
            log::warn!(user = login.actor.user_id, instance = inst.id; "jumpbox: terminal permission denied");
            return Bridged::Refused(client.t("jumpbox.denied").replace("{name}", &inst.name));
        }
        Err(e) => return Bridged::Refused(explain(client, &inst.name, Some(inst), &e)),
    }
    let request = bridge::Request {
        inst,
        origin: &login.origin,
        holder: &login.holder,
        program: command.map_or(Program::Shell, Program::Command),
        tty: client.pty,
    };
    let opened = match bridge::open(state, request).await {
        Ok(opened) => opened,
        Err(e) => return Bridged::Refused(explain(client, &inst.name, Some(inst), &e)),
    };
    log::info!(user = login.actor.user_id, instance = inst.id, session = opened.session_id(); "jumpbox shell opened");
    if command.is_none() && client.pty.is_some() {
        let text = client.t("jumpbox.connected").replace("{name}", &inst.name);
        let _ = client.line(&text).await;
    }
    let typeahead = Bytes::from(std::mem::take(&mut client.typeahead));
    let mut keys = SshIn {
        events: &mut client.events,
        pty: &mut client.pty,
    };
    let mut screen = SshOut { out: &client.out };
    let end = opened
        .run(state, typeahead, &mut keys, &mut screen, Some(client.idle))
        .await;
    client.touch();
    match end {
        Ended::Exited(code) => Bridged::Exited(code),
        Ended::Client => Bridged::Ended(Ending::Gone),
        Ended::Idle => Bridged::Ended(client.idle_out().await),
        Ended::Revoked => {
            let _ = client
                .complain(&format!("\n{}", client.t("jumpbox.revoked")))
                .await;
            Bridged::Ended(Ending::Close)
        }
        Ended::Engine(e) => Bridged::Refused(explain(
            client,
            &inst.name,
            Some(inst),
            &OpsError::Docker(e),
        )),
    }
}

/// The channel's input side for the bridge: data, resizes, EOF and the end.
struct SshIn<'a> {
    events: &'a mut Receiver<Event>,
    pty: &'a mut Option<TermSize>,
}

impl ClientIn for SshIn<'_> {
    async fn next(&mut self) -> FromClient {
        loop {
            match self.events.recv().await {
                Some(Event::Data(bytes)) => return FromClient::Data(bytes),
                Some(Event::Resize(size)) => {
                    *self.pty = self.pty.map(|_| size);
                    return FromClient::Resize(size);
                }
                Some(Event::Eof) => return FromClient::Eof,
                Some(Event::Closed) | None => return FromClient::Gone,
                Some(_) => {}
            }
        }
    }
}

/// The channel's output side: the program's stdout as data, its stderr as extended data.
struct SshOut<'a> {
    out: &'a ChannelWriteHalf<Msg>,
}

impl ClientOut for SshOut<'_> {
    async fn write(&mut self, chunk: Chunk) -> Result<(), ClientGone> {
        let sent = match chunk {
            Chunk::Out(bytes) => self.out.data_bytes(bytes).await,
            Chunk::Err(bytes) => self.out.extended_data_bytes(1, bytes).await,
        };
        sent.map_err(|_| ClientGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_pty_sizes_fall_back_to_80x24() {
        assert_eq!(size(0, 0), TermSize::default());
        assert_eq!(
            size(120, 40),
            TermSize {
                cols: 120,
                rows: 40
            }
        );
        assert_eq!(
            size(100_000, 5),
            TermSize {
                cols: 1000,
                rows: 5
            }
        );
    }

    #[test]
    fn the_language_follows_lang() {
        assert_eq!(lang_of("en_US.UTF-8"), Lang::En);
        assert_eq!(lang_of("zh_CN.UTF-8"), Lang::Zh);
        assert_eq!(lang_of("C.UTF-8"), Lang::Zh);
    }
}
