//! The jumpbox's SFTP file tree, as rules: where a path the client sends points (the
//! instance named at login, or `/<instance>/<path>` from a root that lists the user's
//! instances), paths made absolute and `..`-proof, the engine's file modes as POSIX
//! modes, and the listing the container's own `find … -exec stat` prints.

/// The sftp and scp commands of the instance page: `sftp -P 2026 mia@train-1@host` and an
/// upload into /root. `host` as for `jumpbox::ssh_command` (its port is dropped).
pub fn file_commands(jump_port: u16, user: &str, host: &str, instance: &str) -> (String, String) {
    let host = super::jumpbox::host_only(host);
    (
        format!("sftp -P {jump_port} {user}@{instance}@{host}"),
        format!("scp -P {jump_port} data.tar {user}@{instance}@{host}:/root/"),
    )
}

/// Where a client's path points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// the root that lists the instances (no instance named at login)
    Root,
    /// `path` (absolute, normalised) inside the instance `name`'s container
    Inside { instance: String, path: String },
}

/// The client's `path` made absolute against `cwd` and normalised: no empty, `.` or
/// `..` components (`..` at the top stays at the top), so nothing climbs out of `/`.
pub fn normalize(path: &str, cwd: &str) -> String {
    let joined;
    let full = if path.starts_with('/') {
        path
    } else {
        joined = format!("{cwd}/{path}");
        &joined
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in full.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Where the (already normalised) `path` points: inside `fixed` when the login named
/// an instance, else the root lists instances and its first component names one.
pub fn locate(path: &str, fixed: Option<&str>) -> Place {
    if let Some(name) = fixed {
        return Place::Inside {
            instance: name.to_string(),
            path: path.to_string(),
        };
    }
    let rest = path.trim_start_matches('/');
    if rest.is_empty() {
        return Place::Root;
    }
    let (name, inner) = rest.split_once('/').unwrap_or((rest, ""));
    Place::Inside {
        instance: name.to_string(),
        path: format!("/{inner}"),
    }
}

/// The client-side path of `path` inside `instance` (the inverse of `locate`).
pub fn outside(path: &str, instance: &str, fixed: bool) -> String {
    if fixed {
        return path.to_string();
    }
    if path == "/" {
        format!("/{instance}")
    } else {
        format!("/{instance}{path}")
    }
}

/// The parent directory and the last name of an absolute normalised path; None for `/`.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    let (parent, name) = path.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    Some((if parent.is_empty() { "/" } else { parent }, name))
}

// POSIX file type bits (st_mode)
pub const S_IFMT: u32 = 0o170_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFSOCK: u32 = 0o140_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFBLK: u32 = 0o060_000;

/// The engine's `X-Docker-Container-Path-Stat` mode (Go's `os.FileMode`: type and
/// special bits at the top, permissions at the bottom) as a POSIX `st_mode`.
pub fn posix_mode(go: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let kind = if go & DIR != 0 {
        S_IFDIR
    } else if go & SYMLINK != 0 {
        S_IFLNK
    } else if go & PIPE != 0 {
        S_IFIFO
    } else if go & SOCKET != 0 {
        S_IFSOCK
    } else if go & CHAR_DEVICE != 0 {
        S_IFCHR
    } else if go & DEVICE != 0 {
        S_IFBLK
    } else {
        S_IFREG
    };
    let special = [(SETUID, 0o4000), (SETGID, 0o2000), (STICKY, 0o1000)]
        .into_iter()
        .filter(|(bit, _)| go & bit != 0)
        .fold(0, |acc, (_, posix)| acc | posix);
    kind | special | (go & 0o777)
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// POSIX st_mode
    pub mode: u32,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    pub atime: u32,
    pub mtime: u32,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

/// The `stat -c` format the listing runs with (busybox's and coreutils' `stat` both
/// know it): raw mode in hex, size, uid, gid, atime, mtime, then the name (last, so a
/// name with spaces stays whole).
pub const LIST_FORMAT: &str = "%f %s %u %g %X %Y %n";

/// The listing `find DIR -mindepth 1 -maxdepth 1 -exec stat -c LIST_FORMAT -- {} +`
/// printed, one entry per line, names without their directory. Lines that do not parse
/// (a name with a line break in it) are left out.
pub fn parse_listing(out: &str) -> Vec<Entry> {
    out.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Entry> {
    let mut f = line.splitn(7, ' ');
    let mode = u32::from_str_radix(f.next()?, 16).ok()?;
    let size = f.next()?.parse().ok()?;
    let uid = f.next()?.parse().ok()?;
    let gid = f.next()?.parse().ok()?;
    let atime = clamp_time(f.next()?)?;
    let mtime = clamp_time(f.next()?)?;
    let path = f.next()?;
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some(Entry {
        name: name.to_string(),
        mode,
        size,
        uid,
        gid,
        atime,
        mtime,
    })
}

/// Seconds since the epoch as SFTP v3 carries them (u32); before 1970 is 0.
fn clamp_time(s: &str) -> Option<u32> {
    let t: i64 = s.parse().ok()?;
    Some(u32::try_from(t.max(0)).unwrap_or(u32::MAX))
}

/// A symlink's target made absolute: relative targets are taken from the link's
/// directory.
pub fn link_target(link: &str, target: &str) -> String {
    let dir = split_parent(link).map_or("/", |(parent, _)| parent);
    normalize(target, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_page_offers_sftp_and_scp() {
        assert_eq!(
            file_commands(2026, "mia", "panel.example.com:8080", "train-1"),
            (
                "sftp -P 2026 mia@train-1@panel.example.com".to_string(),
                "scp -P 2026 data.tar mia@train-1@panel.example.com:/root/".to_string()
            )
        );
    }

    #[test]
    fn paths_are_made_absolute_and_cannot_climb_out() {
        for (path, cwd, want) in [
            ("/root/x", "/", "/root/x"),
            ("x", "/root", "/root/x"),
            (".", "/root", "/root"),
            ("", "/root", "/root"),
            ("../../../etc/passwd", "/root", "/etc/passwd"),
            ("/a/./b//c/", "/", "/a/b/c"),
            ("/..", "/", "/"),
            ("/train-1/../other/etc", "/", "/other/etc"),
        ] {
            assert_eq!(normalize(path, cwd), want, "{path} from {cwd}");
        }
    }

    #[test]
    fn the_root_lists_instances_and_a_named_login_is_inside_its_instance() {
        assert_eq!(locate("/", None), Place::Root);
        assert_eq!(
            locate("/train-1", None),
            Place::Inside {
                instance: "train-1".into(),
                path: "/".into()
            }
        );
        assert_eq!(
            locate("/train-1/root/a.txt", None),
            Place::Inside {
                instance: "train-1".into(),
                path: "/root/a.txt".into()
            }
        );
        assert_eq!(
            locate("/", Some("box")),
            Place::Inside {
                instance: "box".into(),
                path: "/".into()
            }
        );
        assert_eq!(outside("/root", "train-1", false), "/train-1/root");
        assert_eq!(outside("/", "train-1", false), "/train-1");
        assert_eq!(outside("/root", "train-1", true), "/root");
    }

    #[test]
    fn parents_split_off_the_last_name() {
        assert_eq!(split_parent("/root/a"), Some(("/root", "a")));
        assert_eq!(split_parent("/a"), Some(("/", "a")));
        assert_eq!(split_parent("/"), None);
        assert_eq!(link_target("/root/l", "data/x"), "/root/data/x");
        assert_eq!(link_target("/root/l", "/etc/x"), "/etc/x");
        assert_eq!(link_target("/root/l", "../../x"), "/x");
    }

    #[test]
    fn go_file_modes_become_posix_modes() {
        assert_eq!(posix_mode(0o644), S_IFREG | 0o644);
        assert_eq!(posix_mode((1 << 31) | 0o755), S_IFDIR | 0o755);
        assert_eq!(posix_mode((1 << 27) | 0o777), S_IFLNK | 0o777);
        // /tmp: a sticky directory
        assert_eq!(posix_mode((1 << 31) | (1 << 20) | 0o777), S_IFDIR | 0o1777);
        // /usr/bin/passwd: setuid
        assert_eq!(posix_mode((1 << 23) | 0o755), S_IFREG | 0o4755);
        // /dev/null: a character device
        assert_eq!(posix_mode((1 << 26) | (1 << 21) | 0o666), S_IFCHR | 0o666);
        assert_eq!(posix_mode((1 << 25) | 0o600), S_IFIFO | 0o600);
    }

    #[test]
    fn listings_parse_and_skip_what_they_cannot_read() {
        let out = "81a4 30 0 0 1796326513 1796326075 ./passwd\n\
                   41ed 4096 1000 1000 1796326513 1796326075 ./my dir\n\
                   a1ff 7 0 0 -5 1 ./link\n\
                   garbage line\n\
                   81a4 1 0 0 1 1 ./\n";
        let got = parse_listing(out);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].name, "passwd");
        assert_eq!(got[0].mode, S_IFREG | 0o644);
        assert_eq!(got[0].size, 30);
        assert_eq!(got[1].name, "my dir");
        assert!(got[1].is_dir());
        assert_eq!((got[1].uid, got[1].gid), (1000, 1000));
        assert_eq!(got[2].mode & S_IFMT, S_IFLNK);
        assert_eq!(got[2].atime, 0);
    }
}
