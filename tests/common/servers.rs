//! Private `redis-server` and PostgreSQL processes for fault tests, on free
//! ports in temporary directories, killed when dropped. The shared servers
//! (5432/6379) are never touched.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::free_port;

/// A free port for a cluster node: its bus listens 10000 higher, so the
/// port must be at most 55535 and its bus port free as well.
fn free_cluster_port() -> u16 {
    (0..1000)
        .map(|_| free_port())
        .find(|&port| port <= 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok())
        .expect("a free port with a free cluster bus port")
}

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Waits (bounded) until something accepts connections on `port`.
fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A command from Redis's slowlog and how long it ran (by the wall clock).
#[derive(Debug, Clone)]
pub struct SlowCommand {
    pub took: Duration,
    pub args: Vec<String>,
}

/// One `redis-server` that can be stopped and started again on the same
/// port and directory (so an AOF survives the restart).
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A plain server without persistence.
    pub fn start() -> Self {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// A server logging every write to its AOF, fsynced once a second (what
    /// docker-compose ships).
    pub fn start_with_aof() -> Self {
        Self::start_with(&[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
        ])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        Self::launch(
            temp_dir("tessera-redis"),
            extra.iter().map(|s| s.to_string()).collect(),
            free_port,
        )
    }

    /// Starts a new server on a port from `pick`, picking again when the
    /// port was taken between the pick and the bind (tests run in parallel,
    /// and outgoing connections take ephemeral ports too).
    fn launch(dir: PathBuf, extra: Vec<String>, pick: fn() -> u16) -> Self {
        let mut server = Self {
            port: pick(),
            dir,
            extra,
            child: None,
        };
        for _ in 0..10 {
            if server.spawn() {
                return server;
            }
            server.port = pick();
        }
        panic!("redis-server found no free port in 10 tries");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|client| client.get_connection())
            .expect("connect to the private redis")
    }

    /// Every command in the slowlog (up to `slowlog-max-len`), newest first.
    pub fn slowlog(&self) -> Vec<SlowCommand> {
        let entries: Vec<(u64, u64, u64, Vec<String>, String, String)> = redis::cmd("SLOWLOG")
            .arg("GET")
            .arg(-1)
            .query(&mut self.connection())
            .expect("SLOWLOG GET");
        entries
            .into_iter()
            .map(|(_, _, micros, args, _, _)| SlowCommand {
                took: Duration::from_micros(micros),
                args,
            })
            .collect()
    }

    /// The shortest time Redis's slowlog gives `command` (as the slowlog
    /// logged it) in `tries` runs: the command's own cost, less the moments
    /// its process waited for a core, which the slowlog's wall clock counts
    /// too. An error when the command fails or the slowlog had truncated it.
    /// Leaves the slowlog logging every command, and empty of others.
    pub fn best_time(&self, command: &SlowCommand, tries: usize) -> Result<Duration, String> {
        let args = &command.args;
        if args.is_empty()
            || args
                .iter()
                .any(|arg| arg.ends_with("more bytes)") || arg.ends_with("more arguments)"))
        {
            return Err(format!("the slowlog truncated it: {args:?}"));
        }
        let mut connection = self.connection();
        let mut run = |cmd: &mut redis::Cmd| {
            cmd.query::<redis::Value>(&mut connection)
                .map_err(|e| format!("{args:?} failed: {e}"))
        };
        run(redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-log-slower-than")
            .arg(0))?;
        let mut best = None::<Duration>;
        for _ in 0..tries {
            run(redis::cmd("SLOWLOG").arg("RESET"))?;
            let mut again = redis::cmd(&args[0]);
            for arg in &args[1..] {
                again.arg(arg);
            }
            run(&mut again)?;
            let took = self
                .slowlog()
                .into_iter()
                .find(|logged| logged.args == *args)
                .ok_or_else(|| format!("{args:?} ran but is not in the slowlog"))?
                .took;
            best = Some(best.map_or(took, |best| best.min(took)));
        }
        best.ok_or_else(|| "no tries".to_owned())
    }

    /// Starts the process again (after [`RedisServer::kill`] or
    /// [`RedisServer::shutdown`]).
    pub fn resume(&mut self) {
        assert!(
            self.spawn(),
            "redis-server could not start again on {}",
            self.port
        );
    }

    /// Starts the process; true once it answers on its port as itself (its
    /// `process_id`), false when it exited first, e.g. because the port was
    /// taken. Without the pid check a test could talk to another test's
    /// server that holds the port.
    fn spawn(&mut self) -> bool {
        assert!(self.child.is_none(), "redis already running");
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let itself = format!("process_id:{}", child.id());
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.cli(&["INFO", "server"]).contains(&itself) {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "redis never answered on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
        true
    }

    /// An abrupt stop, like a crash (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the running process.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// A clean `SHUTDOWN` (which fsyncs the AOF), waiting for the exit.
    pub fn shutdown(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.cli(&["SHUTDOWN"]);
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of `masters` primaries without replicas, slots spread
/// by `redis-cli --cluster create`.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// How many keys each node holds (`DBSIZE`), 0 for a node that does not
    /// answer.
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|node| node.cli(&["DBSIZE"]).trim().parse().unwrap_or(0))
            .collect()
    }

    pub fn start(masters: usize) -> Self {
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| {
                let dir = temp_dir("tessera-redis-cluster");
                let extra = vec![
                    "--save".into(),
                    "".into(),
                    "--appendonly".into(),
                    "no".into(),
                    "--cluster-enabled".into(),
                    "yes".into(),
                    "--cluster-config-file".into(),
                    dir.join("nodes.conf").display().to_string(),
                ];
                RedisServer::launch(dir, extra, free_cluster_port)
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli --cluster create");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Waits (bounded) until every node reports `cluster_state:ok`.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .nodes
            .iter()
            .all(|node| node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(Instant::now() < deadline, "cluster never reached state ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The seed URLs for `redis.cluster_nodes`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// The directory holding `initdb` / `pg_ctl` of the installed PostgreSQL.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL installed under /usr/lib/postgresql")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL with pg_ctl")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Runs a PostgreSQL binary: as the `postgres` system user when we are root
/// (the server refuses to run as root), else as ourselves.
fn as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run a PostgreSQL binary")
}

/// A private PostgreSQL cluster (trust auth) that can be stopped and
/// started again on the same port.
pub struct PostgresServer {
    pub port: u16,
    dir: PathBuf,
    running: bool,
}

impl PostgresServer {
    pub fn start() -> Self {
        let dir = temp_dir("tessera-postgres");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the PostgreSQL directory");
        }
        let data = dir.join("data");
        let output = as_postgres(
            &postgres_bin().join("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            output.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut server = Self {
            port: free_port(),
            dir,
            running: false,
        };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let data = self.dir.join("data").display().to_string();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        as_postgres(&postgres_bin().join("pg_ctl"), &all)
    }

    pub fn resume(&mut self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        let output = self.pg_ctl(&["-o", &options, "-l", &log, "-w", "-t", "30", "start"]);
        assert!(
            output.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.running = true;
        wait_listening(self.port, "postgres");
    }

    /// Stops the server, cutting every connection (`-m immediate`).
    pub fn stop(&mut self) {
        if self.running {
            self.pg_ctl(&["-m", "immediate", "-w", "-t", "30", "stop"]);
            self.running = false;
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
