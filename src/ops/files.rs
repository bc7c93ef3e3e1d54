//! Files in instances, for the jumpbox's SFTP: reaching an instance with the terminal's
//! rules (in the user's scope, the terminal route's permission record, running), then
//! stat, listing, reading, writing and the image's own tools there (docker/files.rs
//! does the Engine API). Errors come back as a `Fault` worded for the user.

use bollard::Docker;
use bytes::Bytes;
use futures_util::Stream;

use super::streams::Holder;
use super::{OpsError, instances, streams};
use crate::docker::{self, DockerError, files};
use crate::domain::access::Actor;
use crate::domain::ids::InstanceId;
use crate::domain::sftp::{self as rules, S_IFLNK, S_IFMT};
use crate::ops::Context;
use crate::ops::views::InstanceView;

pub use crate::docker::files::PathStat;
pub use crate::domain::sftp::Entry;

/// Symlinks followed for one stat at most.
const MAX_LINKS: usize = 8;

/// Why a file operation failed, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// no such instance, file or directory
    Missing(String),
    /// not allowed
    Denied(String),
    /// anything else (the engine's or the tool's own words)
    Failed(String),
}

impl From<DockerError> for Fault {
    fn from(e: DockerError) -> Self {
        match e {
            DockerError::NotFound(m) => Fault::Missing(m),
            other => Fault::Failed(other.to_string()),
        }
    }
}

/// An instance reached for file work.
#[derive(Clone)]
pub struct Target {
    pub id: InstanceId,
    pub name: String,
    docker: Docker,
    container: String,
}

/// The instance `name` as `actor` (holding `holder`) may open it: in scope, allowed the
/// terminal, running. Returns it with its row, for the caller's records.
pub async fn reach(
    state: &Context,
    actor: &Actor,
    holder: &Holder,
    name: &str,
) -> Result<(InstanceView, Target), Fault> {
    let inst = match instances::lookup(state, actor, None, name).await {
        Ok(inst) => inst,
        Err(OpsError::NotFound) => return Err(Fault::Missing(format!("no instance named {name}"))),
        Err(OpsError::Refused(key)) => {
            return Err(Fault::Failed(
                crate::i18n::t(crate::i18n::Lang::En, key).to_string(),
            ));
        }
        Err(e) => return Err(Fault::Failed(e.to_string())),
    };
    match streams::still_allowed(state, holder, inst.id).await {
        Ok(true) => {}
        Ok(false) => {
            log::warn!(user = actor.user_id, instance = inst.id; "files: terminal permission denied");
            return Err(Fault::Denied(format!(
                "you may not open the files of {name}"
            )));
        }
        Err(e) => return Err(Fault::Failed(e.to_string())),
    }
    if streams::is_running(&inst).is_err() {
        return Err(Fault::Failed(format!("instance {name} is not running")));
    }
    let docker = async {
        let ep = instances::endpoint(state, inst.node_id).await?;
        Ok::<_, OpsError>(docker::connect(&ep).await?)
    }
    .await
    .map_err(|e| Fault::Failed(e.to_string()))?;
    let target = Target {
        id: inst.id,
        name: inst.name.clone(),
        docker,
        container: inst.container_id.clone(),
    };
    Ok((inst, target))
}

impl Target {
    /// `path`'s stat, following symlinks when `follow`, with the path it ended on; None
    /// when there is no such path.
    pub async fn stat(
        &self,
        path: &str,
        follow: bool,
    ) -> Result<Option<(String, PathStat)>, Fault> {
        let mut path = path.to_string();
        for _ in 0..=MAX_LINKS {
            let Some(s) = files::stat(&self.docker, &self.container, &path).await? else {
                return Ok(None);
            };
            if !follow || s.mode & S_IFMT != S_IFLNK {
                return Ok(Some((path, s)));
            }
            path = rules::link_target(&path, &s.link_target);
        }
        Err(Fault::Failed(format!(
            "{path}: too many levels of symbolic links"
        )))
    }

    /// The directory's entries (the image's `find` and `stat`).
    pub async fn list(&self, dir: &str) -> Result<Vec<Entry>, Fault> {
        let out = self
            .tool(&[
                "find",
                dir,
                "-mindepth",
                "1",
                "-maxdepth",
                "1",
                "-exec",
                "stat",
                "-c",
                rules::LIST_FORMAT,
                "--",
                "{}",
                "+",
            ])
            .await?;
        Ok(rules::parse_listing(&out))
    }

    /// Runs one of the image's tools (no shell); its stderr is the fault when it fails.
    pub async fn tool(&self, argv: &[&str]) -> Result<String, Fault> {
        let run = files::run_tool(&self.docker, &self.container, argv).await?;
        if run.code == Some(0) {
            return Ok(run.stdout);
        }
        let why = run.stderr.trim();
        let why = if why.is_empty() {
            format!("{} failed", argv.first().unwrap_or(&""))
        } else {
            why.to_string()
        };
        Err(if why.contains("No such file") {
            Fault::Missing(why)
        } else if why.contains("Permission denied") {
            Fault::Denied(why)
        } else {
            Fault::Failed(why)
        })
    }

    /// The regular file `path` (symlinks resolved) of `size` bytes, read as asked.
    pub fn reader(&self, path: &str, size: u64) -> Reader {
        Reader {
            target: self.clone(),
            path: path.to_string(),
            size,
            stream: None,
            pos: 0,
            leftover: Bytes::new(),
        }
    }

    /// Writes the file `name` into the existing directory `dir` with `mode`, its `size`
    /// bytes pulled from `body`.
    pub async fn put<S>(
        &self,
        dir: &str,
        name: &str,
        mode: u32,
        size: u64,
        body: S,
    ) -> Result<(), Fault>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        match files::write(&self.docker, &self.container, dir, name, mode, size, body).await {
            Err(DockerError::NotFound(_)) => {
                Err(Fault::Missing(format!("{dir}: no such directory")))
            }
            other => Ok(other?),
        }
    }
}

/// A file being read: the engine's stream follows the reads and starts again when one
/// goes back.
pub struct Reader {
    target: Target,
    path: String,
    pub size: u64,
    /// the engine's stream, at `pos` (None until the first read, or after a seek back)
    stream: Option<files::FileReader>,
    pos: u64,
    leftover: Bytes,
}

impl Reader {
    pub fn instance(&self) -> InstanceId {
        self.target.id
    }

    /// Up to `len` bytes from `offset`; empty at the end of the file.
    pub async fn read(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, Fault> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        if offset < self.pos || self.stream.is_none() {
            let t = &self.target;
            self.stream = Some(files::read(&t.docker, &t.container, &self.path));
            self.pos = 0;
            self.leftover = Bytes::new();
        }
        let want = usize::try_from(len).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(want.min(256 * 1024));
        while out.len() < want {
            if self.leftover.is_empty() {
                let Some(stream) = self.stream.as_mut() else {
                    break;
                };
                match stream.next().await {
                    Some(piece) => self.leftover = piece?,
                    None => break,
                }
            }
            // skip what lies before `offset`
            if self.pos < offset {
                let skip = usize::try_from(offset - self.pos)
                    .unwrap_or(usize::MAX)
                    .min(self.leftover.len());
                let _ = self.leftover.split_to(skip);
                self.pos += skip as u64;
                continue;
            }
            let n = (want - out.len()).min(self.leftover.len());
            out.extend_from_slice(&self.leftover.split_to(n));
            self.pos += n as u64;
        }
        Ok(out)
    }
}
