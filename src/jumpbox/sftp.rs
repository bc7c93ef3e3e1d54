//! The `sftp` subsystem of a session channel (sftp, scp in its default SFTP mode, WinSCP,
//! FileZilla): the files of the user's instances, through the Docker Engine API, so the
//! image needs no sftp-server of its own.
//!
//! - Where a path points: the instance named at login (`sftp -P 2026 mia@train-1@host`),
//!   else `/` lists the user's instances as directories and `/train-1/root/…` is inside
//!   one (domain/sftp.rs). An instance is reached with the shell's rules: in the user's
//!   scope, running, and the terminal route's permission record (re-checked every
//!   `RECHECK` while in use).
//! - Contents: reads stream the engine's archive of the file as the client asks for it
//!   (docker/files.rs); an upload is spooled to `<data_dir>/sftp-spool` (within the
//!   jumpbox's spool budget) and written into the container in one piece when the
//!   client closes the file, so a broken transfer changes nothing there. Stat and
//!   readlink use `HEAD …/archive`; listings, mkdir, rmdir, rm, mv, chmod and touch run
//!   the image's own tools (busybox has them all).
//! - Records: a `sessions` row (protocol `sftp`) per instance a channel touches, with
//!   the bytes uploaded (in) and downloaded (out); an audit event for every file written
//!   and every file removed: path, bytes, result.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use super::login::Shared;
use crate::domain::ids::InstanceId;
use crate::domain::sftp::{self as rules, Entry, Place, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::ops::files::{Fault, PathStat, Reader, Target};
use crate::ops::sessions::{Opened, Outcome};
use crate::ops::views::InstanceView;
use crate::ops::{self, audit};

/// How often an instance in use is checked again (user still allowed, still running).
const RECHECK: Duration = Duration::from_secs(10);
/// Handles one channel may hold open at once.
const MAX_HANDLES: usize = 64;
/// The spool's directory under the data directory.
const SPOOL_DIR: &str = "sftp-spool";

/// Removes the uploads a previous run left in the spool (it stopped mid-transfer).
pub fn clear_spool(data_dir: &Path) {
    let dir = data_dir.join(SPOOL_DIR);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        log::warn!("clearing {}: {e}", dir.display());
    }
}

/// A refusal for the client: an SFTP status code and a line it prints.
#[derive(Debug)]
pub struct Refusal(StatusCode, String);

impl From<Refusal> for StatusReply {
    fn from(r: Refusal) -> Self {
        r.0.with_message(r.1)
    }
}

fn refuse(code: StatusCode, text: impl Into<String>) -> Refusal {
    Refusal(code, text.into())
}

fn failure(text: impl Into<String>) -> Refusal {
    refuse(StatusCode::Failure, text)
}

impl From<Fault> for Refusal {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Missing(m) => refuse(StatusCode::NoSuchFile, m),
            Fault::Denied(m) => refuse(StatusCode::PermissionDenied, m),
            Fault::Failed(m) => failure(m),
        }
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        log::error!("sftp spool: {e}");
        failure(format!("the panel's spool: {e}"))
    }
}

/// The channel's bytes as one stream for the SFTP server: the channel's data events in,
/// its writer out. The input ends at the channel's EOF or close, or after `idle`
/// without a byte from the client (`idled` is set then).
pub struct ChannelIo<E, W> {
    events: Receiver<E>,
    data: fn(E) -> Option<Option<Bytes>>,
    pending: Bytes,
    writer: Pin<Box<W>>,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    idled: Arc<std::sync::atomic::AtomicBool>,
}

impl<E, W> ChannelIo<E, W> {
    /// `data` tells an event's bytes (Some(Some)), the end of input (Some(None)) or an
    /// event to skip (None).
    pub fn new(
        events: Receiver<E>,
        data: fn(E) -> Option<Option<Bytes>>,
        writer: W,
        idle: Duration,
    ) -> (Self, Arc<std::sync::atomic::AtomicBool>) {
        let idled = Arc::default();
        let io = ChannelIo {
            events,
            data,
            pending: Bytes::new(),
            writer: Box::pin(writer),
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            idled: Arc::clone(&idled),
        };
        (io, idled)
    }
}

impl<E, W> AsyncRead for ChannelIo<E, W> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                let piece = self.pending.split_to(n);
                buf.put_slice(&piece);
                return Poll::Ready(Ok(()));
            }
            match self.events.poll_recv(cx) {
                Poll::Ready(Some(ev)) => match (self.data)(ev) {
                    Some(Some(bytes)) => {
                        let deadline = Instant::now() + self.idle;
                        self.sleep.as_mut().reset(deadline);
                        self.pending = bytes;
                    }
                    Some(None) => return Poll::Ready(Ok(())),
                    None => {}
                },
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    if self.sleep.as_mut().poll(cx).is_ready() {
                        self.idled.store(true, std::sync::atomic::Ordering::Release);
                        return Poll::Ready(Ok(()));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<E, W: AsyncWrite> AsyncWrite for ChannelIo<E, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.writer.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_shutdown(cx)
    }
}

/// The `sessions` rows a channel opened, one per instance touched, with their counts;
/// closed by `close_records` when the channel ends.
pub type Records = Arc<Mutex<HashMap<InstanceId, (Opened, Outcome)>>>;

/// Closes the channel's session rows with `reason`.
pub async fn close_records(shared: &Shared, records: &Records, reason: &'static str) {
    let rows: Vec<(Opened, Outcome)> = records
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain()
        .map(|(_, row)| row)
        .collect();
    for (opened, outcome) in rows {
        ops::sessions::end(&shared.state, opened, outcome, reason).await;
    }
}

/// An instance the channel reached, and when it was last checked.
struct Checked {
    target: Target,
    at: Instant,
}

enum Open {
    Dir(Option<Vec<File>>),
    Read(Reader),
    Write(Writing),
}

/// An upload: spooled, written into the container on close.
struct Writing {
    target: Target,
    /// the path inside the container, its directory and name
    path: String,
    dir: String,
    name: String,
    mode: u32,
    spool: Spooled,
    /// a write failed: closing writes nothing
    failed: bool,
}

/// A spool file and the budget it holds; removed (and the budget given back) when
/// dropped.
struct Spooled {
    path: PathBuf,
    file: tokio::fs::File,
    /// bytes reserved (the highest end written)
    size: u64,
    limits: Arc<super::limits::Limits>,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        self.limits.release_spool(self.size);
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::warn!("removing {}: {e}", self.path.display());
        }
    }
}

/// The SFTP server of one channel (russh-sftp calls it one request at a time).
pub struct Files {
    shared: Arc<Shared>,
    /// the instance the channel is for (named at login, or the user's only one)
    fixed: Option<String>,
    /// where relative paths start (`realpath(".")`)
    home: Option<String>,
    reached: HashMap<String, Checked>,
    handles: HashMap<String, Open>,
    next_handle: u64,
    records: Records,
    /// dropped with the server: the channel then closes the records
    _done: tokio::sync::oneshot::Sender<()>,
}

impl Files {
    /// The server of one channel; `done` is dropped when it ends.
    pub fn new(
        shared: Arc<Shared>,
        records: Records,
        done: tokio::sync::oneshot::Sender<()>,
    ) -> Self {
        let fixed = shared.login.instance.clone();
        Files {
            shared,
            fixed,
            home: None,
            reached: HashMap::new(),
            handles: HashMap::new(),
            next_handle: 1,
            records,
            _done: done,
        }
    }

    /// Where the client's `path` points (relative paths start at the home).
    async fn place(&mut self, path: &str) -> Place {
        let cwd = self.home().await;
        rules::locate(&rules::normalize(path, &cwd), self.fixed.as_deref())
    }

    /// Where relative paths start: /root in the named instance when it has one, else /.
    /// Decided at the first request, with which instance the channel is for: the one
    /// named at login, else the user's only one, else none (the root lists them).
    async fn home(&mut self) -> String {
        if let Some(home) = &self.home {
            return home.clone();
        }
        if self.fixed.is_none() {
            let state = &self.shared.state;
            match ops::instances::only_one(state, &self.shared.login.actor).await {
                Ok(only) => self.fixed = only.map(|i| i.name),
                Err(e) => log::warn!("sftp: listing the user's instances: {e}"),
            }
        }
        let home = match self.fixed.clone() {
            None => "/".to_string(),
            Some(name) => match self.reach(&name).await {
                Ok(on) => match on.stat("/root", false).await {
                    Ok(Some((_, s))) if s.mode & S_IFMT == S_IFDIR => "/root".into(),
                    _ => "/".into(),
                },
                // not reached: the operation itself says why; try again next time
                Err(_) => return "/".into(),
            },
        };
        self.home = Some(home.clone());
        home
    }

    /// The instance `name`, reached (or checked again) with the shell's rules; its
    /// session row is opened on first use.
    async fn reach(&mut self, name: &str) -> Result<Target, Refusal> {
        if let Some(c) = self.reached.get(name)
            && c.at.elapsed() < RECHECK
        {
            return Ok(c.target.clone());
        }
        let login = &self.shared.login;
        let (inst, target) =
            ops::files::reach(&self.shared.state, &login.actor, &login.holder, name).await?;
        self.open_record(&inst).await?;
        let checked = Checked {
            target: target.clone(),
            at: Instant::now(),
        };
        self.reached.insert(name.to_string(), checked);
        Ok(target)
    }

    async fn open_record(&self, inst: &InstanceView) -> Result<(), Refusal> {
        let known = self.records().contains_key(&inst.id);
        if known {
            return Ok(());
        }
        let origin = self.shared.login.origin.through("sftp");
        let opened = ops::sessions::begin(&self.shared.state, &origin, inst, "")
            .await
            .map_err(|e| failure(e.to_string()))?;
        self.records().insert(inst.id, (opened, Outcome::default()));
        Ok(())
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceId, (Opened, Outcome)>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, instance: InstanceId, uploaded: u64, downloaded: u64) {
        if let Some((_, outcome)) = self.records().get_mut(&instance) {
            outcome.bytes_in = outcome.bytes_in.saturating_add(to_i64(uploaded));
            outcome.bytes_out = outcome.bytes_out.saturating_add(to_i64(downloaded));
        }
    }

    /// The instance and path `path` points at; the root is refused with `what`.
    async fn inside(&mut self, path: &str, what: &str) -> Result<(Target, String), Refusal> {
        match self.place(path).await {
            Place::Root => Err(refuse(
                StatusCode::PermissionDenied,
                format!("{what}: / only lists your instances; use /<instance>/…"),
            )),
            Place::Inside { instance, path } => Ok((self.reach(&instance).await?, path)),
        }
    }

    fn add(&mut self, open: Open) -> Result<Handle, Refusal> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(failure(format!("at most {MAX_HANDLES} files open at once")));
        }
        let handle = self.next_handle.to_string();
        self.next_handle += 1;
        self.handles.insert(handle.clone(), open);
        Ok(Handle { id: 0, handle })
    }

    /// The root's listing: the user's instances as directories.
    async fn instances(&self) -> Result<Vec<File>, Refusal> {
        let state = &self.shared.state;
        let list = ops::instances::menu(
            state,
            &self.shared.login.actor,
            state.settings.jumpbox.menu_limit,
        )
        .await
        .map_err(|e| failure(e.to_string()))?;
        Ok(list
            .iter()
            .map(|i| {
                let mut a = dir_attrs();
                a.mtime = Some(to_u32(i.created_at.timestamp()));
                File::new(i.name.clone(), a)
            })
            .collect())
    }

    /// Audits a file written or removed.
    async fn audit(
        &self,
        action: &str,
        instance: &Target,
        path: &str,
        bytes: Option<u64>,
        result: &Result<(), Refusal>,
    ) {
        let detail = match (bytes, result) {
            (Some(n), Ok(())) => format!("{}:{path} {n} bytes", instance.name),
            (None, Ok(())) => format!("{}:{path}", instance.name),
            (_, Err(Refusal(_, why))) => format!("{}:{path} failed: {why}", instance.name),
        };
        let status = if result.is_ok() { 200 } else { 500 };
        let mut event = self
            .shared
            .login
            .origin
            .through("sftp")
            .event(action, status, detail);
        event.resource_type = "instance".into();
        event.resource_id = instance.id.to_string();
        audit::record(&self.shared.state, event).await;
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u32(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

fn dir_attrs() -> FileAttributes {
    FileAttributes {
        permissions: Some(S_IFDIR | 0o755),
        ..FileAttributes::default()
    }
}

fn stat_attrs(s: &PathStat) -> FileAttributes {
    FileAttributes {
        size: Some(s.size),
        permissions: Some(s.mode),
        mtime: Some(to_u32(s.mtime)),
        atime: Some(to_u32(s.mtime)),
        ..FileAttributes::default()
    }
}

fn entry_attrs(e: &Entry) -> FileAttributes {
    FileAttributes {
        size: Some(e.size),
        uid: Some(e.uid),
        gid: Some(e.gid),
        permissions: Some(e.mode),
        atime: Some(e.atime),
        mtime: Some(e.mtime),
        ..FileAttributes::default()
    }
}

impl russh_sftp::server::Handler for Files {
    type Error = Refusal;

    fn unimplemented(&self) -> Self::Error {
        refuse(StatusCode::OpUnsupported, "not supported by the jumpbox")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let cwd = self.home().await;
        let full = rules::normalize(&path, &cwd);
        Ok(Name {
            id,
            files: vec![File::dummy(full)],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.attrs(id, &path, true).await
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.attrs(id, &path, false).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let attrs = match self.handles.get(&handle) {
            Some(Open::Read(r)) => FileAttributes {
                size: Some(r.size),
                permissions: Some(S_IFREG | 0o644),
                ..FileAttributes::default()
            },
            Some(Open::Write(w)) => FileAttributes {
                size: Some(w.spool.size),
                permissions: Some(S_IFREG | w.mode),
                ..FileAttributes::default()
            },
            Some(Open::Dir(_)) => dir_attrs(),
            None => return Err(bad_handle()),
        };
        Ok(Attrs { id, attrs })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let files = match self.place(&path).await {
            Place::Root => self.instances().await?,
            Place::Inside { .. } => {
                let (on, path) = self.inside(&path, "opendir").await?;
                // a symlink to a directory lists the directory
                let dir = match on.stat(&path, true).await? {
                    Some((dir, s)) if s.mode & S_IFMT == S_IFDIR => dir,
                    Some(_) => return Err(failure(format!("{path}: not a directory"))),
                    None => {
                        return Err(refuse(
                            StatusCode::NoSuchFile,
                            format!("{path}: no such directory"),
                        ));
                    }
                };
                on.list(&dir)
                    .await?
                    .iter()
                    .map(|e| File::new(e.name.clone(), entry_attrs(e)))
                    .collect()
            }
        };
        let mut h = self.add(Open::Dir(Some(files)))?;
        h.id = id;
        Ok(h)
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Dir(files)) => match files.take() {
                Some(files) => Ok(Name { id, files }),
                None => Err(refuse(StatusCode::Eof, "")),
            },
            _ => Err(bad_handle()),
        }
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let writing = pflags.intersects(
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::APPEND,
        );
        let (on, path) = self.inside(&filename, "open").await?;
        let open = if writing {
            Open::Write(self.start_upload(on, path, pflags, &attrs).await?)
        } else {
            let Some((path, s)) = on.stat(&path, true).await? else {
                return Err(refuse(
                    StatusCode::NoSuchFile,
                    format!("{path}: no such file"),
                ));
            };
            if s.mode & S_IFMT != S_IFREG {
                return Err(failure(format!("{path}: not a regular file")));
            }
            Open::Read(on.reader(&path, s.size))
        };
        let mut h = self.add(open)?;
        h.id = id;
        Ok(h)
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let Some(Open::Read(r)) = self.handles.get_mut(&handle) else {
            return Err(bad_handle());
        };
        let data = r.read(offset, len).await?;
        if data.is_empty() {
            return Err(refuse(StatusCode::Eof, ""));
        }
        let (instance, n) = (r.instance(), data.len() as u64);
        self.count(instance, 0, n);
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let Some(Open::Write(w)) = self.handles.get_mut(&handle) else {
            return Err(bad_handle());
        };
        if let Err(e) = w.spool.write_at(offset, &data).await {
            w.failed = true;
            return Err(e);
        }
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        match self.handles.get_mut(&handle) {
            // the mode goes into the upload; other attributes follow with it
            Some(Open::Write(w)) => {
                if let Some(p) = attrs.permissions {
                    w.mode = p & 0o7777;
                }
                Ok(ok(id))
            }
            Some(_) => Ok(ok(id)),
            None => Err(bad_handle()),
        }
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let (on, path) = self.inside(&path, "setstat").await?;
        if let Some(p) = attrs.permissions {
            on.tool(&["chmod", &format!("{:o}", p & 0o7777), "--", &path])
                .await?;
        }
        if let (Some(uid), Some(gid)) = (attrs.uid, attrs.gid) {
            on.tool(&["chown", &format!("{uid}:{gid}"), "--", &path])
                .await?;
        }
        if let Some(mtime) = attrs.mtime {
            on.tool(&["touch", "-c", "-d", &format!("@{mtime}"), "--", &path])
                .await?;
        }
        if let Some(size) = attrs.size {
            on.tool(&["truncate", "-s", &size.to_string(), "--", &path])
                .await?;
        }
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(Open::Write(w)) => self.finish_upload(w).await.map(|()| ok(id)),
            Some(_) => Ok(ok(id)),
            None => Err(bad_handle()),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let (on, path) = self.inside(&filename, "remove").await?;
        let done = match on.stat(&path, false).await? {
            None => Err(refuse(
                StatusCode::NoSuchFile,
                format!("{path}: no such file"),
            )),
            Some((_, s)) if s.mode & S_IFMT == S_IFDIR => {
                Err(failure(format!("{path}: is a directory (use rmdir)")))
            }
            Some(_) => on
                .tool(&["rm", "-f", "--", &path])
                .await
                .map(|_| ())
                .map_err(Refusal::from),
        };
        self.audit("sftp_remove", &on, &path, None, &done).await;
        done.map(|()| ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let (on, path) = self.inside(&path, "mkdir").await?;
        let mode = format!("{:o}", attrs.permissions.unwrap_or(0o755) & 0o7777);
        on.tool(&["mkdir", "-m", &mode, "--", &path]).await?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        let (on, path) = self.inside(&path, "rmdir").await?;
        let done = on
            .tool(&["rmdir", "--", &path])
            .await
            .map(|_| ())
            .map_err(Refusal::from);
        self.audit("sftp_remove", &on, &path, None, &done).await;
        done.map(|()| ok(id))
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        let (on, from) = self.inside(&oldpath, "rename").await?;
        let (to_on, to) = self.inside(&newpath, "rename").await?;
        if to_on.id != on.id {
            return Err(refuse(
                StatusCode::OpUnsupported,
                "rename across instances: download and upload instead",
            ));
        }
        // SFTP v3: an existing target is not replaced
        if on.stat(&to, false).await?.is_some() {
            return Err(failure(format!("{to}: already exists")));
        }
        on.tool(&["mv", "--", &from, &to]).await?;
        Ok(ok(id))
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let (on, path) = self.inside(&path, "readlink").await?;
        match on.stat(&path, false).await? {
            Some((_, s)) if s.mode & S_IFMT == S_IFLNK => Ok(Name {
                id,
                files: vec![File::dummy(s.link_target)],
            }),
            Some(_) => Err(failure(format!("{path}: not a symbolic link"))),
            None => Err(refuse(
                StatusCode::NoSuchFile,
                format!("{path}: no such file"),
            )),
        }
    }

    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, Self::Error> {
        // OpenSSH's client sends the target first, then the new link (its sftp-server
        // reads them in that order too); russh-sftp names them the other way round
        let (target, link) = (linkpath, targetpath);
        let (on, link) = self.inside(&link, "symlink").await?;
        on.tool(&["ln", "-s", "--", &target, &link]).await?;
        Ok(ok(id))
    }
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

fn bad_handle() -> Refusal {
    failure("no such handle")
}

impl Files {
    async fn attrs(&mut self, id: u32, path: &str, follow: bool) -> Result<Attrs, Refusal> {
        let attrs = match self.place(path).await {
            Place::Root => dir_attrs(),
            Place::Inside { .. } => {
                let (on, path) = self.inside(path, "stat").await?;
                match on.stat(&path, follow).await? {
                    Some((_, s)) => stat_attrs(&s),
                    None => {
                        return Err(refuse(
                            StatusCode::NoSuchFile,
                            format!("{path}: no such file"),
                        ));
                    }
                }
            }
        };
        Ok(Attrs { id, attrs })
    }

    async fn start_upload(
        &self,
        on: Target,
        path: String,
        pflags: OpenFlags,
        attrs: &FileAttributes,
    ) -> Result<Writing, Refusal> {
        let Some((dir, name)) = rules::split_parent(&path) else {
            return Err(failure("/ is a directory"));
        };
        let (dir, name) = (dir.to_string(), name.to_string());
        let existing = on.stat(&path, true).await?;
        if let Some((_, s)) = &existing {
            if pflags.contains(OpenFlags::EXCLUDE) {
                return Err(failure(format!("{path}: already exists")));
            }
            if s.mode & S_IFMT == S_IFDIR {
                return Err(failure(format!("{path}: is a directory")));
            }
        } else if !pflags.contains(OpenFlags::CREATE) {
            return Err(refuse(
                StatusCode::NoSuchFile,
                format!("{path}: no such file"),
            ));
        }
        let mode = attrs
            .permissions
            .or(existing.as_ref().map(|(_, s)| s.mode))
            .unwrap_or(0o644)
            & 0o7777;
        let mut spool = Spooled::create(&self.shared).await?;
        // appending or writing into an existing file: its contents come first
        if let Some((real, s)) = existing
            && !pflags.contains(OpenFlags::TRUNCATE)
            && s.size > 0
        {
            let mut reader = on.reader(&real, s.size);
            loop {
                let piece = reader.read(spool.size, 256 * 1024).await?;
                if piece.is_empty() {
                    break;
                }
                spool.write_at(spool.size, &piece).await?;
            }
        }
        Ok(Writing {
            target: on,
            path,
            dir,
            name,
            mode,
            spool,
            failed: false,
        })
    }

    async fn finish_upload(&self, w: Writing) -> Result<(), Refusal> {
        let Writing {
            target,
            path,
            dir,
            name,
            mode,
            mut spool,
            failed,
        } = w;
        if failed {
            return Err(failure(format!(
                "{path}: a write failed, nothing was written"
            )));
        }
        let size = spool.size;
        let sent = async {
            spool.file.flush().await?;
            let file = tokio::fs::File::open(&spool.path).await?;
            target
                .put(&dir, &name, mode, size, chunks(file))
                .await
                .map_err(Refusal::from)
        }
        .await;
        if sent.is_ok() {
            self.count(target.id, size, 0);
        }
        self.audit("sftp_write", &target, &path, Some(size), &sent)
            .await;
        drop(spool);
        sent
    }
}

/// A file read in 256 KiB pieces, as the engine takes them.
fn chunks(file: tokio::fs::File) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    })
}

impl Spooled {
    async fn create(shared: &Shared) -> Result<Spooled, Refusal> {
        let dir = shared.state.settings.server.data_dir.join(SPOOL_DIR);
        tokio::fs::create_dir_all(&dir).await?;
        let path = dir.join(crate::crypto::random_token(12));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(Spooled {
            path,
            file,
            size: 0,
            limits: Arc::clone(&shared.limits),
        })
    }

    /// Writes at `offset`, taking spool budget for what grows the file.
    async fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), Refusal> {
        let end = offset.saturating_add(data.len() as u64);
        if end > self.size {
            if !self.limits.reserve_spool(end - self.size) {
                return Err(failure(
                    "the panel's upload space is full (jumpbox.sftp_spool_gb); try again later",
                ));
            }
            self.size = end;
        }
        self.file.seek(std::io::SeekFrom::Start(offset)).await?;
        self.file.write_all(data).await?;
        Ok(())
    }
}
