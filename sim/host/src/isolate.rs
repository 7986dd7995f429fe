//! Running hosted extensions in child processes, so an extension that crashes or hangs
//! takes down a child, not faxsim: the platform half of `faxsim-worker`.
//!
//! [`spawn_linked`] starts a child in a process tree of its own (a process group on
//! Unix, a job object on Windows, so a hang kills every process the extension started)
//! with a private pair of pipes, never its standard streams, which belong to the
//! extension: an extension printing cannot forge an outcome. [`take_link`] is the
//! child's side, [`ProcessTree::kill`] ends a hung tree, and [`describe_exit`] says how a
//! child ended.

use std::io;
use std::process::{Child, Command, ExitStatus};

/// Puts the command's process in a group of its own (Unix), so a hang kills every process
/// the extension started too; on Windows the job object of [`ProcessTree`] does that.
fn own_group(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = cmd;
}

/// A process's end in words: the signal's name (`SIGSEGV (signal 11)`), the exception
/// code, or the exit code.
pub fn describe_exit(status: &ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            let name = match sig {
                libc::SIGILL => "SIGILL",
                libc::SIGABRT => "SIGABRT",
                libc::SIGBUS => "SIGBUS",
                libc::SIGFPE => "SIGFPE",
                libc::SIGKILL => "SIGKILL",
                libc::SIGSEGV => "SIGSEGV",
                libc::SIGTERM => "SIGTERM",
                _ => "signal",
            };
            return format!("{name} (signal {sig})");
        }
    }
    match status.code() {
        Some(c) if c < 0 => format!("exception {:#010x}", c as u32),
        Some(c) => format!("the process exited with code {c}"),
        None => "the process ended abnormally".into(),
    }
}

// ---- linked children: a private channel, a killable process tree ------------------------

/// The environment variable that hands a linked child its two pipe ends (`READ,WRITE`:
/// file descriptors on Unix, handle values on Windows).
pub const LINK_VAR: &str = "FAXSIM_WORKER_LINK";

/// The parent's ends of a linked child's private channel.
#[derive(Debug)]
pub struct Link {
    /// Requests to the child.
    pub to_child: std::io::PipeWriter,
    /// The child's messages.
    pub from_child: std::io::PipeReader,
}

/// A linked child's whole process tree (everything it started, too).
#[derive(Debug)]
pub struct ProcessTree {
    #[cfg(unix)]
    group: Option<libc::pid_t>,
    #[cfg(windows)]
    job: Option<windows_sys::Win32::Foundation::HANDLE>,
}

// SAFETY: the job handle is a kernel handle, usable from any thread; the type only ever
// passes it to TerminateJobObject and CloseHandle.
#[cfg(windows)]
unsafe impl Send for ProcessTree {}

/// Serialises the window in which the child's pipe ends are inheritable, so a child
/// spawned by another thread meanwhile does not inherit them (it would keep the channel
/// open after the linked child died).
static SPAWN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts `cmd` with a private channel ([`Link`]) in a process tree of its own. The child
/// finds its ends with [`take_link`].
pub fn spawn_linked(mut cmd: Command) -> io::Result<(Child, Link, ProcessTree)> {
    let (child_reads, to_child) = io::pipe()?;
    let (from_child, child_writes) = io::pipe()?;
    own_group(&mut cmd);
    let _window = SPAWN.lock().unwrap_or_else(|e| e.into_inner());
    let value = format!(
        "{},{}",
        platform::raw(&child_reads),
        platform::raw(&child_writes)
    );
    cmd.env(LINK_VAR, value);
    platform::inheritable(&child_reads, true)?;
    platform::inheritable(&child_writes, true)?;
    let spawned = cmd.spawn();
    // Whatever happened, the parent's copies of the child's ends close here.
    drop((child_reads, child_writes));
    let child = spawned?;
    let tree = platform::tree_of(&child);
    Ok((
        child,
        Link {
            to_child,
            from_child,
        },
        tree,
    ))
}

/// The child's side of [`spawn_linked`]: its two pipe ends (requests in, messages out),
/// taken once; `None` when the process was not started linked. The ends are made
/// non-inheritable, so processes the extension starts do not hold the channel open.
pub fn take_link() -> io::Result<Option<(std::io::PipeReader, std::io::PipeWriter)>> {
    let Some(value) = std::env::var_os(LINK_VAR) else {
        return Ok(None);
    };
    // SAFETY: no other thread runs yet when the worker starts (it is called first thing),
    // so removing a variable cannot race a reader of the environment.
    unsafe { std::env::remove_var(LINK_VAR) };
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{LINK_VAR} is malformed"),
        )
    };
    let value = value.to_str().ok_or_else(bad)?;
    let (r, w) = value.split_once(',').ok_or_else(bad)?;
    let r: u64 = r.parse().map_err(|_| bad())?;
    let w: u64 = w.parse().map_err(|_| bad())?;
    platform::adopt(r, w).map(Some)
}

impl ProcessTree {
    /// Kills every process of the tree (a hang: the extension's own children too).
    pub fn kill(&mut self, child: &mut Child) {
        platform::kill_tree(self, child);
    }
}

#[cfg(windows)]
impl Drop for ProcessTree {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            // SAFETY: `job` is the handle CreateJobObjectW returned, closed only here.
            unsafe { windows_sys::Win32::Foundation::CloseHandle(job) };
        }
    }
}

#[cfg(unix)]
mod platform {
    use super::ProcessTree;
    use std::io;
    use std::os::fd::{FromRawFd as _, OwnedFd, RawFd};
    use std::process::Child;

    pub fn raw(end: &impl std::os::fd::AsRawFd) -> RawFd {
        end.as_raw_fd()
    }

    pub fn inheritable(end: &impl std::os::fd::AsRawFd, yes: bool) -> io::Result<()> {
        let fd = end.as_raw_fd();
        // SAFETY: fcntl on a descriptor this process owns (the pipe end is borrowed for
        // the call); only the close-on-exec flag changes.
        let r = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 {
                return Err(io::Error::last_os_error());
            }
            let flags = if yes {
                flags & !libc::FD_CLOEXEC
            } else {
                flags | libc::FD_CLOEXEC
            };
            libc::fcntl(fd, libc::F_SETFD, flags)
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn fd_of(v: u64) -> io::Result<RawFd> {
        let fd = RawFd::try_from(v)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad descriptor"))?;
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("descriptor {fd} is not open"),
            ));
        }
        Ok(fd)
    }

    pub fn adopt(r: u64, w: u64) -> io::Result<(io::PipeReader, io::PipeWriter)> {
        let (r, w) = (fd_of(r)?, fd_of(w)?);
        if r == w {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "one descriptor twice",
            ));
        }
        // SAFETY: both descriptors are open (checked above), distinct, and were handed to
        // this process for it alone by the parent (spawn_linked); nothing else in this
        // process knows their numbers, so ownership is taken once.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) };
        let (r, w) = (io::PipeReader::from(r), io::PipeWriter::from(w));
        inheritable(&r, false)?;
        inheritable(&w, false)?;
        Ok((r, w))
    }

    pub fn tree_of(child: &Child) -> ProcessTree {
        ProcessTree {
            group: libc::pid_t::try_from(child.id()).ok(),
        }
    }

    pub fn kill_tree(tree: &mut ProcessTree, child: &mut Child) {
        match tree.group {
            // SAFETY: kill(2) with a negative pid signals the process group the child
            // leads (spawn_linked started it with `process_group(0)`); no memory is
            // involved.
            Some(pid) => unsafe {
                libc::kill(-pid, libc::SIGKILL);
            },
            None => {
                let _ = child.kill();
            }
        }
    }
}

#[cfg(windows)]
mod platform {
    use super::ProcessTree;
    use std::io;
    use std::os::windows::io::{AsRawHandle as _, FromRawHandle as _, OwnedHandle, RawHandle};
    use std::process::Child;
    use windows_sys::Win32::Foundation::{HANDLE, HANDLE_FLAG_INHERIT, SetHandleInformation};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
        SetInformationJobObject, TerminateJobObject,
    };

    pub fn raw(end: &impl std::os::windows::io::AsRawHandle) -> u64 {
        end.as_raw_handle() as usize as u64
    }

    pub fn inheritable(end: &impl std::os::windows::io::AsRawHandle, yes: bool) -> io::Result<()> {
        let flag = if yes { HANDLE_FLAG_INHERIT } else { 0 };
        // SAFETY: the handle is a pipe end this process owns (borrowed for the call); only
        // its inherit flag changes.
        let ok = unsafe {
            SetHandleInformation(end.as_raw_handle() as HANDLE, HANDLE_FLAG_INHERIT, flag)
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn adopt(r: u64, w: u64) -> io::Result<(io::PipeReader, io::PipeWriter)> {
        if r == 0 || w == 0 || r == w {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad handles"));
        }
        // SAFETY: the parent (spawn_linked) made these two distinct pipe handles
        // inheritable for this process alone and named them in the environment; nothing
        // else here knows them, so ownership is taken once.
        let (r, w) = unsafe {
            (
                OwnedHandle::from_raw_handle(r as usize as RawHandle),
                OwnedHandle::from_raw_handle(w as usize as RawHandle),
            )
        };
        let (r, w) = (io::PipeReader::from(r), io::PipeWriter::from(w));
        inheritable(&r, false)?;
        inheritable(&w, false)?;
        Ok((r, w))
    }

    pub fn tree_of(child: &Child) -> ProcessTree {
        // SAFETY: CreateJobObjectW with no name and default security; the result is
        // checked for null.
        let job = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
        if job.is_null() {
            return ProcessTree { job: None };
        }
        // SAFETY: an all-zero JOBOBJECT_EXTENDED_LIMIT_INFORMATION is valid (plain data).
        let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
        info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        // SAFETY: `job` is valid; `info` lives across the call and its size is passed.
        // The child's handle is valid while `child` is alive (borrowed here).
        let ok = unsafe {
            SetInformationJobObject(
                job,
                JobObjectExtendedLimitInformation,
                (&raw const info).cast(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ) != 0
                && AssignProcessToJobObject(job, child.as_raw_handle() as HANDLE) != 0
        };
        if !ok {
            // SAFETY: `job` came from CreateJobObjectW above and is closed once.
            unsafe { windows_sys::Win32::Foundation::CloseHandle(job) };
            return ProcessTree { job: None };
        }
        ProcessTree { job: Some(job) }
    }

    pub fn kill_tree(tree: &mut ProcessTree, child: &mut Child) {
        match tree.job {
            // SAFETY: `job` is the live job handle the tree owns.
            Some(job) => unsafe {
                TerminateJobObject(job, 1);
            },
            None => {
                let _ = child.kill();
            }
        }
    }
}
