//! Starting an extension process: its own process group and working folder,
//! only the environment given, rlimits, SIGKILL when the host dies, and
//! optionally no network (a fresh user + network namespace), and the
//! sandbox of [`crate::sandbox`]: Landlock, seccomp, a pids cgroup.
//!
//! All spawns happen on one long-lived thread: the parent-death signal fires
//! when the *thread* that forked exits, so a caller's short-lived thread
//! must not be the parent.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

use parking_lot::Mutex;

use crate::sandbox::Policy;

#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// RLIMIT_AS, bytes of address space.
    pub address_space: Option<u64>,
    /// RLIMIT_CPU, seconds of CPU time.
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_NOFILE.
    pub open_files: Option<u64>,
    /// RLIMIT_NPROC (counted by the kernel over the whole user).
    pub processes: Option<u64>,
    /// RLIMIT_FSIZE, bytes one file may grow to.
    pub file_size: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    pub isolate_network: bool,
    /// stdout and stderr are appended here.
    pub log: PathBuf,
    /// Landlock, seccomp and cgroup walls; None runs it unconfined.
    pub sandbox: Option<Policy>,
    /// A tmpfs of this many bytes over this folder, seen by the child alone
    /// (a user and mount namespace of its own): a work folder whose size the
    /// kernel bounds. The child starts in it, with a `tmp` folder made.
    pub scratch: Option<(PathBuf, u64)>,
}

type Reply = Sender<Result<u32, String>>;
type Requests = Sender<(Spec, Reply)>;
/// The spawner thread's channel, and the pid it was started in: a forked
/// child inherits the channel but not the thread, so it starts its own.
static SPAWNER: Mutex<Option<(u32, Requests)>> = Mutex::new(None);

/// Starts the process and returns its pid (also its process-group id).
pub fn spawn(spec: Spec) -> Result<u32, String> {
    let tx = {
        let mut guard = SPAWNER.lock();
        let me = std::process::id();
        match guard.as_ref() {
            Some((pid, tx)) if *pid == me => tx.clone(),
            _ => {
                let (tx, rx) = channel::<(Spec, Reply)>();
                std::thread::Builder::new()
                    .name("stage-spawner".into())
                    .spawn(move || {
                        for (spec, reply) in rx {
                            let _ = reply.send(spawn_here(&spec));
                        }
                    })
                    .map_err(|e| format!("cannot start the spawner thread: {e}"))?;
                *guard = Some((me, tx.clone()));
                tx
            }
        }
    };
    let (reply, rx) = channel();
    tx.send((spec, reply))
        .map_err(|_| "the spawner thread is gone".to_string())?;
    rx.recv().map_err(|_| "the spawner thread is gone".to_string())?
}

fn spawn_here(spec: &Spec) -> Result<u32, String> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err("empty command line".into());
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(|e| format!("cannot open the log {}: {e}", spec.log.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0);
    // Everything the child needs is prepared here: after fork only
    // async-signal-safe calls are allowed.
    // SAFETY: getuid/getgid/getpid cannot fail.
    let (uid, gid, parent) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
    let maps = [
        (c"/proc/self/setgroups", b"deny".to_vec()),
        (c"/proc/self/uid_map", format!("{uid} {uid} 1").into_bytes()),
        (c"/proc/self/gid_map", format!("{gid} {gid} 1").into_bytes()),
    ];
    let limits: Vec<(libc::__rlimit_resource_t, u64)> = [
        (libc::RLIMIT_AS, spec.limits.address_space),
        (libc::RLIMIT_CPU, spec.limits.cpu_seconds),
        (libc::RLIMIT_NOFILE, spec.limits.open_files),
        (libc::RLIMIT_NPROC, spec.limits.processes),
        (libc::RLIMIT_FSIZE, spec.limits.file_size),
    ]
    .into_iter()
    .filter_map(|(r, v)| v.map(|v| (r, v)))
    .collect();
    let isolate = spec.isolate_network;
    let scratch = match &spec.scratch {
        Some((dir, bytes)) => {
            let dir = CString::new(dir.as_os_str().as_encoded_bytes())
                .map_err(|_| "a NUL byte in the work folder's path".to_string())?;
            let mut tmp = dir.as_bytes().to_vec();
            tmp.extend_from_slice(b"/tmp");
            let tmp = CString::new(tmp).map_err(|e| e.to_string())?;
            let options = CString::new(format!("size={bytes},mode=0700")).map_err(|e| e.to_string())?;
            Some((dir, tmp, options))
        }
        None => None,
    };
    let namespaces = match (isolate, scratch.is_some()) {
        (false, false) => 0,
        (true, false) => libc::CLONE_NEWUSER | libc::CLONE_NEWNET,
        (false, true) => libc::CLONE_NEWUSER | libc::CLONE_NEWNS,
        (true, true) => libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWNS,
    };
    let mut walls = spec.sandbox.as_ref().map(Policy::prepare).transpose()?;
    // SAFETY: the closure only makes raw system calls (unshare, open, write,
    // close, prctl, getppid, setrlimit, close_range, landlock_*, seccomp) on
    // data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(w) = walls.as_mut() {
                w.join_cgroup()?;
            }
            // Before the user namespace: RLIMIT_NPROC counts the user's
            // processes in the namespace where it was set.
            for &(resource, value) in &limits {
                // A CPU hard limit equal to the soft one means SIGKILL, which
                // reads as the OOM killer: leave a second for SIGXCPU to land.
                let lim = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: if resource == libc::RLIMIT_CPU { value + 1 } else { value },
                };
                if libc::setrlimit(resource, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if namespaces != 0 {
                if libc::unshare(namespaces) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for (path, text) in &maps {
                    write_file(path, text)?;
                }
            }
            if let Some((dir, tmp, options)) = &scratch {
                // Nothing mounted here may reach the host's namespace.
                let none = std::ptr::null();
                if libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_SLAVE, none.cast()) != 0
                    || libc::mount(
                        c"tmpfs".as_ptr(),
                        dir.as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        options.as_ptr().cast(),
                    ) != 0
                    || libc::chdir(dir.as_ptr()) != 0
                    || libc::mkdir(tmp.as_ptr(), 0o700) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(w) = walls.as_ref() {
                    w.allow_mounted(dir)?;
                }
            }
            // After unshare: a change of credentials clears the signal.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // A descriptor the host left inheritable must not reach the
            // extension: every one past stdio closes at exec.
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(w) = walls.as_mut() {
                w.restrict()?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| format!("cannot start {program}: {e}"))?;
    Ok(child.id())
}

/// open + write + close with raw calls (safe between fork and exec).
pub(crate) unsafe fn write_file(path: &std::ffi::CStr, text: &[u8]) -> std::io::Result<()> {
    // SAFETY: path is NUL-terminated, text outlives the calls.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = libc::write(fd, text.as_ptr().cast(), text.len());
        libc::close(fd);
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether this kernel lets an unprivileged process drop its network
/// (user + network namespaces); the error says why not.
pub fn network_isolation() -> Result<(), String> {
    static CACHE: OnceLock<Result<(), String>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let spec = Spec {
                argv: vec!["/bin/true".into()],
                cwd: std::env::temp_dir(),
                env: Vec::new(),
                limits: Limits::default(),
                isolate_network: true,
                log: PathBuf::from("/dev/null"),
                sandbox: None,
                scratch: None,
            };
            let pid = spawn(spec).map_err(|e| format!("unshare(CLONE_NEWUSER | CLONE_NEWNET) failed: {e}"))?;
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid as i32, &mut status, 0) };
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                Ok(())
            } else {
                Err(format!(
                    "a probe in a fresh network namespace ended with status {status}"
                ))
            }
        })
        .clone()
}
