//! Files in a container through the Engine API, for the jumpbox's SFTP: stat
//! (`HEAD …/archive`), reading a file as a stream (`GET …/archive`, the tar unwrapped
//! as it arrives), writing one from a stream (`PUT …/archive`, a one-file tar made as
//! it goes) and running one of the image's own tools (`find`, `mkdir`, `mv`, `rm`)
//! where the API has no call. Nothing here holds a whole file in memory: reads pull
//! the engine's stream only as the caller asks, writes pull the caller's stream.

use std::pin::Pin;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::DockerError;

/// What `HEAD …/archive` tells of a path (the path itself: a symlink is not followed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    /// POSIX st_mode
    pub mode: u32,
    /// seconds since the epoch
    pub mtime: i64,
    /// non-empty for a symlink
    pub link_target: String,
}

/// The path's stat; None when the container has no such path.
pub async fn stat(
    docker: &Docker,
    container: &str,
    path: &str,
) -> Result<Option<PathStat>, DockerError> {
    let opts = ContainerArchiveInfoOptionsBuilder::default()
        .path(path)
        .build();
    match docker
        .get_container_archive_info(container, Some(opts))
        .await
    {
        Ok(s) => Ok(Some(PathStat {
            name: s.name,
            size: u64::try_from(s.size).unwrap_or(0),
            mode: crate::domain::sftp::posix_mode(s.file_mode),
            mtime: s
                .modification_time
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map_or(0, |t| t.timestamp()),
            link_target: s.link_target,
        })),
        Err(e) => match DockerError::from_bollard(e, container) {
            DockerError::NotFound(_) => Ok(None),
            other => Err(other),
        },
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, bollard::errors::Error>> + Send>>;

/// A file's contents as the engine streams them, unwrapped from their tar.
pub struct FileReader {
    /// in a mutex only to be `Sync` (always reached through `&mut self`: never locked)
    stream: std::sync::Mutex<ByteStream>,
    untar: Untar,
    container: String,
}

/// Starts reading the regular file `path` (symlinks already resolved by the caller).
pub fn read(docker: &Docker, container: &str, path: &str) -> FileReader {
    let opts = DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    FileReader {
        stream: std::sync::Mutex::new(Box::pin(
            docker.download_from_container(container, Some(opts)),
        )),
        untar: Untar::default(),
        container: container.to_string(),
    }
}

impl FileReader {
    /// The next piece of the file; None at its end.
    pub async fn next(&mut self) -> Option<Result<Bytes, DockerError>> {
        loop {
            if let Some(piece) = self.untar.take() {
                return Some(Ok(piece));
            }
            if self.untar.done() {
                return None;
            }
            let stream = self
                .stream
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match stream.next().await {
                Some(Ok(bytes)) => {
                    if let Err(why) = self.untar.feed(bytes) {
                        return Some(Err(DockerError::Engine(why.to_string())));
                    }
                }
                Some(Err(e)) => return Some(Err(DockerError::from_bollard(e, &self.container))),
                None if self.untar.in_body() => {
                    return Some(Err(DockerError::Engine(
                        "the file's archive ended early".into(),
                    )));
                }
                None => return None,
            }
        }
    }
}

const BLOCK: usize = 512;
/// The largest PAX header read (its records are small: names, times, sizes).
const PAX_MAX: u64 = 64 * 1024;

/// Unwraps the first regular file of a tar stream, fed in arbitrary pieces: skips PAX
/// and GNU long-name entries (taking a PAX `size` for the file), hands out the file's
/// bytes and ignores the rest.
#[derive(Default)]
struct Untar {
    /// bytes of a header (or PAX record) not complete yet
    pending: Vec<u8>,
    /// what is being read
    state: TarState,
    /// the size a PAX header gave the next entry
    pax_size: Option<u64>,
    /// file bytes ready to hand out
    ready: Option<Bytes>,
}

#[derive(Default, Debug, PartialEq)]
enum TarState {
    #[default]
    Header,
    /// an entry's data to skip (with its padding)
    Skip(u64),
    /// a PAX header's records (`len`, then padding to skip)
    Pax {
        len: u64,
        pad: u64,
    },
    /// the file's data left, then its padding
    Body {
        left: u64,
    },
    Done,
}

#[derive(Debug, thiserror::Error)]
enum TarError {
    #[error("the engine's archive has no regular file")]
    NoFile,
    #[error("the engine's archive is damaged")]
    Damaged,
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64
}

impl Untar {
    fn take(&mut self) -> Option<Bytes> {
        self.ready.take()
    }

    fn done(&self) -> bool {
        self.state == TarState::Done
    }

    fn in_body(&self) -> bool {
        matches!(self.state, TarState::Body { left } if left > 0)
    }

    /// Takes the next piece of the stream; at most one piece of file data is made ready
    /// (the caller takes it before feeding more).
    fn feed(&mut self, mut bytes: Bytes) -> Result<(), TarError> {
        while !bytes.is_empty() {
            match self.state {
                TarState::Done => return Ok(()),
                TarState::Body { left } => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    let piece = bytes.split_to(n);
                    self.state = TarState::Body {
                        left: left - n as u64,
                    };
                    if left - n as u64 == 0 {
                        self.state = TarState::Done;
                    }
                    self.ready = Some(match self.ready.take() {
                        None => piece,
                        Some(before) => [before, piece].concat().into(),
                    });
                }
                TarState::Skip(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes.advance_by(n);
                    self.state = if left - n as u64 == 0 {
                        TarState::Header
                    } else {
                        TarState::Skip(left - n as u64)
                    };
                }
                TarState::Pax { len, pad } => {
                    let want = usize::try_from(len).unwrap_or(usize::MAX) - self.pending.len();
                    let n = want.min(bytes.len());
                    self.pending.extend_from_slice(&bytes.split_to(n));
                    if self.pending.len() as u64 == len {
                        self.pax_size = pax_size(&self.pending);
                        self.pending.clear();
                        self.state = if pad == 0 {
                            TarState::Header
                        } else {
                            TarState::Skip(pad)
                        };
                    }
                }
                TarState::Header => {
                    let n = (BLOCK - self.pending.len()).min(bytes.len());
                    self.pending.extend_from_slice(&bytes.split_to(n));
                    if self.pending.len() == BLOCK {
                        let block = std::mem::take(&mut self.pending);
                        self.header(&block)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn header(&mut self, block: &[u8]) -> Result<(), TarError> {
        if block.iter().all(|b| *b == 0) {
            // the end-of-archive marker before any file
            return Err(TarError::NoFile);
        }
        let h = tar::Header::from_byte_slice(block);
        let size = h.entry_size().map_err(|_| TarError::Damaged)?;
        let kind = h.entry_type();
        if kind.is_pax_local_extensions() {
            if size > PAX_MAX {
                return Err(TarError::Damaged);
            }
            self.state = TarState::Pax {
                len: size,
                pad: padded(size) - size,
            };
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = self.pax_size.take().unwrap_or(size);
            self.state = if size == 0 {
                TarState::Done
            } else {
                TarState::Body { left: size }
            };
        } else if kind.is_dir() || kind.is_symlink() || kind.is_hard_link() {
            return Err(TarError::NoFile);
        } else {
            // GNU long names, PAX globals and the like
            self.state = if size == 0 {
                TarState::Header
            } else {
                TarState::Skip(padded(size))
            };
        }
        Ok(())
    }
}

trait AdvanceBy {
    fn advance_by(&mut self, n: usize);
}

impl AdvanceBy for Bytes {
    fn advance_by(&mut self, n: usize) {
        let _ = self.split_to(n);
    }
}

/// The `size` record of PAX extended header records (`"<len> size=<n>\n"` …).
fn pax_size(records: &[u8]) -> Option<u64> {
    let mut rest = records;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space || len > rest.len() {
            return None;
        }
        let record = &rest[space + 1..len];
        if let Some(value) = record.strip_prefix(b"size=") {
            let value = value.strip_suffix(b"\n").unwrap_or(value);
            return std::str::from_utf8(value).ok()?.parse().ok();
        }
        rest = &rest[len..];
    }
    None
}

/// Writes the file `name` into the directory `dir` (which must exist) with `mode`
/// (permission bits), its `size` bytes pulled from `body` as the engine takes them.
/// An existing file is replaced; a directory of that name is not.
pub async fn write<S>(
    docker: &Docker,
    container: &str,
    dir: &str,
    name: &str,
    mode: u32,
    size: u64,
    body: S,
) -> Result<(), DockerError>
where
    S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    let head = Bytes::from(tar_head(name, mode, size)?);
    let pad = usize::try_from(padded(size) - size).unwrap_or(0);
    // the file's padding, then the two zero blocks that end an archive
    let tail = Bytes::from(vec![0u8; pad + 2 * BLOCK]);
    let tar = futures_util::stream::once(async { Ok(head) })
        .chain(body)
        .chain(futures_util::stream::once(async { Ok(tail) }));
    let opts = UploadToContainerOptionsBuilder::default()
        .path(dir)
        .no_overwrite_dir_non_dir("true")
        .build();
    docker
        .upload_to_container(container, Some(opts), bollard::body_try_stream(tar))
        .await
        .map_err(|e| DockerError::from_bollard(e, container))
}

/// The tar header(s) of one regular file (a GNU long-name entry first when the name is
/// longer than a header holds), owned by root, modified now.
fn tar_head(name: &str, mode: u32, size: u64) -> Result<Vec<u8>, DockerError> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode & 0o7777);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    let now = chrono::Utc::now().timestamp();
    h.set_mtime(u64::try_from(now).unwrap_or(0));
    let mut b = tar::Builder::new(Vec::new());
    // no data follows here: the caller streams it after these bytes
    b.append_data(&mut h, name, std::io::empty())
        .map_err(|e| DockerError::Config(format!("file name {name:?}: {e}")))?;
    let bytes = b.get_ref().clone();
    Ok(bytes)
}

/// What one of the image's tools printed and how it ended.
#[derive(Debug)]
pub struct ToolRun {
    pub code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
}

/// The most a tool's output is kept (a listing of ~100 000 names).
const TOOL_OUTPUT_MAX: usize = 16 * 1024 * 1024;

/// Runs `argv` (no shell) in the running container and waits for it; its output is
/// kept up to 16 MiB (a longer one is an error).
pub async fn run_tool(
    docker: &Docker,
    container: &str,
    argv: &[&str],
) -> Result<ToolRun, DockerError> {
    let engine = |e| DockerError::from_bollard(e, container);
    let created = docker
        .create_exec(
            container,
            CreateExecOptions::<String> {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(argv.iter().map(|a| (*a).to_string()).collect()),
                ..Default::default()
            },
        )
        .await
        .map_err(engine)?;
    let started = docker.start_exec(&created.id, None).await.map_err(engine)?;
    let StartExecResults::Attached { mut output, .. } = started else {
        return Err(DockerError::Engine("exec started detached".into()));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(piece) = output.next().await {
        let (to, bytes) = match piece.map_err(engine)? {
            LogOutput::StdErr { message } => (&mut stderr, message),
            other => (&mut stdout, other.into_bytes()),
        };
        if to.len() + bytes.len() > TOOL_OUTPUT_MAX {
            return Err(DockerError::Engine(format!(
                "{} printed more than {TOOL_OUTPUT_MAX} bytes",
                argv.first().unwrap_or(&"")
            )));
        }
        to.extend_from_slice(&bytes);
    }
    let code = docker
        .inspect_exec(&created.id)
        .await
        .map_err(engine)?
        .exit_code;
    Ok(ToolRun {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(name: &str, data: &[u8], pax: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        if pax {
            b.append_pax_extensions([("path", name.as_bytes()), ("mtime", b"1.5".as_slice())])
                .unwrap();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
        b.into_inner().unwrap()
    }

    /// Feeds `tar` in pieces of `step` bytes and collects the file.
    fn unwrap(tar: &[u8], step: usize) -> Result<Vec<u8>, TarError> {
        let mut u = Untar::default();
        let mut out = Vec::new();
        for piece in tar.chunks(step) {
            u.feed(Bytes::copy_from_slice(piece))?;
            if let Some(b) = u.take() {
                out.extend_from_slice(&b);
            }
        }
        assert!(u.done(), "the file ended");
        Ok(out)
    }

    #[test]
    fn a_file_comes_out_of_its_tar_whatever_the_pieces() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for pax in [false, true] {
            let tar = archive("data.bin", &data, pax);
            for step in [1, 7, 512, 513, 4096, tar.len()] {
                assert_eq!(unwrap(&tar, step).unwrap(), data, "pax {pax} step {step}");
            }
        }
        let long = "n".repeat(180);
        assert_eq!(unwrap(&archive(&long, b"hi", false), 100).unwrap(), b"hi");
        assert_eq!(unwrap(&archive("empty", b"", false), 512).unwrap(), b"");
    }

    #[test]
    fn a_pax_size_wins_over_the_header() {
        assert_eq!(
            pax_size(b"30 mtime=1432668921.098285006\n13 size=4096\n"),
            Some(4096)
        );
        assert_eq!(pax_size(b"11 path=ab\n"), None);
        assert_eq!(pax_size(b"99 size=1\n"), None);
    }

    #[test]
    fn a_directory_is_not_a_file() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, "dir/", std::io::empty()).unwrap();
        let tar = b.into_inner().unwrap();
        let mut u = Untar::default();
        assert!(matches!(u.feed(Bytes::from(tar)), Err(TarError::NoFile)));
    }

    #[test]
    fn the_written_head_reads_back_with_the_tar_crate() {
        for name in ["a.txt", &"x".repeat(200)] {
            let mut tar = tar_head(name, 0o640, 3).unwrap();
            tar.extend_from_slice(b"abc");
            tar.resize(tar.len() + BLOCK - 3 + 2 * BLOCK, 0);
            let mut a = tar::Archive::new(tar.as_slice());
            let mut entries = a.entries().unwrap();
            let mut e = entries.next().unwrap().unwrap();
            assert_eq!(e.path().unwrap().to_str().unwrap(), name);
            assert_eq!(e.header().mode().unwrap(), 0o640);
            let mut got = String::new();
            std::io::Read::read_to_string(&mut e, &mut got).unwrap();
            assert_eq!(got, "abc");
            drop(e);
            assert!(entries.next().is_none());
        }
    }
}
