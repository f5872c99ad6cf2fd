//! Hand-built intents the adapters are tested with: what `Intent::from_catalog` makes of
//! the starter stack, of a GPU training job that needs a database, and of a stack of edge
//! cases (UDP, any free port, tmpfs and bind mounts, labels Kubernetes cannot keep).

use std::collections::BTreeMap;
use std::path::PathBuf;

use b00t_datums::DatumId;
use b00t_deploy::{
    Health, HealthTest, Intent, IntentKind, Port, Protocol, Resources, Restart, Volume,
    VolumeSource, Wait, Workload, WorkloadRole,
};

/// Every fixture, by the name of its golden folder.
pub(crate) fn all() -> Vec<(&'static str, Intent)> {
    vec![
        ("starter", starter()),
        ("training", training()),
        ("edge", edge()),
    ]
}

fn id(text: &str) -> DatumId {
    DatumId::parse(text).unwrap_or_else(|| panic!("`{text}` is not a datum id"))
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn tcp(container: u16, host: Option<u16>, host_ip: Option<&str>) -> Port {
    Port {
        container,
        host,
        host_ip: host_ip.map(str::to_owned),
        protocol: Protocol::Tcp,
    }
}

/// A workload with nothing set but its name, stack, datum, role and image.
pub(crate) fn workload(
    name: &str,
    stack: &str,
    datum: &str,
    role: WorkloadRole,
    image: &str,
) -> Workload {
    Workload {
        name: name.to_owned(),
        stack: stack.to_owned(),
        datum: id(datum),
        role,
        image: image.to_owned(),
        build: None,
        command: Vec::new(),
        args: Vec::new(),
        env: BTreeMap::new(),
        ports: Vec::new(),
        volumes: Vec::new(),
        health: None,
        restart: Restart::No,
        resources: Resources::default(),
        labels: BTreeMap::new(),
        hints: BTreeMap::new(),
        wait_for: Vec::new(),
        local: None,
        workdir: None,
        user: None,
        hostname: None,
        read_only: false,
        protocol: None,
    }
}

/// An intent of `workloads` with nothing else set.
pub(crate) fn intent(
    datum: &str,
    kind: IntentKind,
    project: &str,
    stacks: &[&str],
    workloads: Vec<Workload>,
) -> Intent {
    Intent {
        datum: id(datum),
        kind,
        project: project.to_owned(),
        stacks: strings(stacks),
        workloads,
        installs: Vec::new(),
        compose_path: None,
        notes: Vec::new(),
    }
}

/// The starter stack: a busybox web server and a job that fetches its page.
pub(crate) fn starter() -> Intent {
    let mut web = workload(
        "web",
        "starter",
        "starter-web.docker",
        WorkloadRole::Service,
        "b00t-busybox:1",
    );
    web.build = Some("busybox-static".to_owned());
    web.command = strings(&[
        "sh",
        "-c",
        "mkdir -p /www && echo 'hello from b00t' > /www/index.html && exec httpd -f -p 8080 -h /www",
    ]);
    web.ports = vec![tcp(8080, Some(18080), Some("127.0.0.1"))];
    web.health = Some(Health {
        test: HealthTest::Shell("wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1".to_owned()),
        interval_ms: Some(1000),
        timeout_ms: None,
        retries: Some(30),
        start_period_ms: None,
    });
    web.restart = Restart::UnlessStopped;
    web.protocol = Some("http".to_owned());
    web.local = Some(strings(&[
        "busybox",
        "sh",
        "-c",
        "mkdir -p www && echo 'hello from b00t' > www/index.html && exec busybox httpd -f -p 127.0.0.1:${STACK:starter:web:port} -h www",
    ]));

    let mut check = workload(
        "check",
        "starter",
        "starter-check.docker",
        WorkloadRole::Job,
        "b00t-busybox:1",
    );
    check.build = Some("busybox-static".to_owned());
    check.command = strings(&["wget"]);
    check.args = strings(&["-q", "-O", "-", "http://${STACK:starter:web:endpoint}/"]);
    check.wait_for = vec![Wait {
        service: "web".to_owned(),
        port: 8080,
    }];
    check.local = Some(strings(&[
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://${STACK:starter:web:endpoint}/",
    ]));

    intent(
        "starter.stack",
        IntentKind::Stack,
        "starter",
        &["starter"],
        vec![web, check],
    )
}

/// A GPU training job that waits for the postgres of the stack it requires.
pub(crate) fn training() -> Intent {
    let mut db = workload(
        "db",
        "pg",
        "postgres.docker",
        WorkloadRole::Service,
        "postgres:16-alpine",
    );
    db.env = map(&[("POSTGRES_DB", "train"), ("POSTGRES_PASSWORD", "b00t")]);
    db.ports = vec![tcp(5432, None, None)];
    db.volumes = vec![Volume {
        source: VolumeSource::Named("pgdata".to_owned()),
        target: "/var/lib/postgresql/data".to_owned(),
        read_only: false,
    }];
    db.health = Some(Health {
        test: HealthTest::Exec(strings(&["pg_isready", "-U", "postgres"])),
        interval_ms: Some(2000),
        timeout_ms: Some(1000),
        retries: Some(15),
        start_period_ms: Some(5000),
    });
    db.restart = Restart::UnlessStopped;
    db.resources.memory = Some(512 * 1024 * 1024);
    db.protocol = Some("postgresql".to_owned());

    let mut train = workload(
        "train",
        "train",
        "train.job",
        WorkloadRole::Job,
        "ghcr.io/example/trainer:1.4",
    );
    train.command = strings(&["python", "-m", "trainer"]);
    train.args = strings(&["--epochs", "10", "--lr", "1.0"]);
    train.env = map(&[
        (
            "DATABASE_URL",
            "postgresql://postgres:b00t@${STACK:pg:db:endpoint}/train",
        ),
        ("NCCL_DEBUG", "INFO"),
        ("SHUFFLE", "yes"),
    ]);
    train.resources = Resources {
        cpu: Some(2.0),
        memory: Some(8 * 1024 * 1024 * 1024),
        gpu_count: Some(1),
        gpu_type: Some("nvidia-tesla-t4".to_owned()),
    };
    train.hints = map(&[("priority", "high"), ("queue", "training")]);
    train.wait_for = vec![Wait {
        service: "db".to_owned(),
        port: 5432,
    }];
    train.restart = Restart::OnFailure(Some(2));

    intent(
        "train.job",
        IntentKind::Job,
        "train",
        &["pg", "train"],
        vec![db, train],
    )
}

/// Edge cases: UDP, a port on any free host port, tmpfs and read-only bind mounts, args
/// without a command, numeric users, labels too long for Kubernetes, values YAML 1.1
/// would read as booleans, numbers or aliases, and a wait on a service with no health
/// check.
pub(crate) fn edge() -> Intent {
    let mut cache = workload(
        "cache",
        "edge",
        "redis.docker",
        WorkloadRole::Service,
        "redis:7-alpine",
    );
    cache.ports = vec![tcp(6379, Some(16379), Some("127.0.0.1"))];
    cache.volumes = vec![Volume {
        source: VolumeSource::Tmpfs,
        target: "/data".to_owned(),
        read_only: false,
    }];
    cache.restart = Restart::Always;
    cache.user = Some("999:999".to_owned());
    cache.read_only = true;
    cache.hostname = Some("cache-0".to_owned());
    cache.env = map(&[
        ("EMPTY", ""),
        ("MAPPING", "8080:80"),
        ("MODE", "on"),
        ("PATTERN", "*"),
        ("SEXAGESIMAL", "18080:50"),
        ("SHELL_LINE", "echo $HOME $(id -u) ${USER} $$"),
        ("VERSION", "1.0"),
    ]);
    cache.labels = map(&[
        ("com.example.team", "platform"),
        (
            "com.example.description",
            "a cache whose description is longer than sixty-three characters, so kubernetes keeps it as an annotation",
        ),
    ]);
    cache.resources.cpu = Some(0.5);
    cache.resources.memory = Some(256 * 1024 * 1024);

    let mut dns = workload(
        "dns",
        "edge",
        "dns.docker",
        WorkloadRole::Service,
        "b00t-busybox:1",
    );
    dns.build = Some("busybox-static".to_owned());
    dns.args = strings(&["--port", "53"]);
    dns.ports = vec![
        Port {
            container: 53,
            host: Some(5353),
            host_ip: None,
            protocol: Protocol::Udp,
        },
        tcp(9153, Some(0), None),
    ];
    dns.volumes = vec![Volume {
        source: VolumeSource::Bind("/etc/hosts".to_owned()),
        target: "/etc/hosts".to_owned(),
        read_only: true,
    }];
    dns.health = Some(HealthTest::Exec(strings(&[
        "nc",
        "-z",
        "127.0.0.1",
        "9153",
    ])))
    .map(|test| Health {
        test,
        interval_ms: Some(1500),
        timeout_ms: Some(500),
        retries: None,
        start_period_ms: None,
    });
    dns.restart = Restart::OnFailure(None);
    dns.workdir = Some("/srv".to_owned());
    dns.user = Some("nobody".to_owned());

    let mut app = workload(
        "app",
        "edge",
        "app.docker",
        WorkloadRole::Service,
        "example/app:2",
    );
    app.command = strings(&["/app"]);
    app.args = strings(&[
        "--cache",
        "${STACK:edge:cache:endpoint}",
        "--cache-host",
        "${STACK:edge:cache:host}",
    ]);
    app.ports = vec![tcp(8000, None, None)];
    app.wait_for = vec![Wait {
        service: "cache".to_owned(),
        port: 6379,
    }];
    app.restart = Restart::OnFailure(Some(5));
    app.hints = map(&[("owner", "team-a")]);
    app.env = map(&[("CACHE_URL", "redis://${STACK:edge:cache:endpoint}/0")]);

    intent(
        "edge.stack",
        IntentKind::Stack,
        "edge",
        &["edge"],
        vec![cache, dns, app],
    )
}

/// The starter stack with its own compose file.
pub(crate) fn own_compose() -> Intent {
    let mut intent = starter();
    intent.compose_path = Some(PathBuf::from("/catalog/starter/compose.yaml"));
    intent
}
