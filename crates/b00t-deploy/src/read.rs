//! [`Intent::from_catalog`]: a stack, job or docker datum read from the catalog into one
//! deployment. Stacks in stacks and `requires_stacks` are flattened depth first (a cycle
//! is an error naming it), `${VAR}` is expanded here, and the workloads come out in the
//! order their `wait_for_services` ask for. The fields read are listed in `intent.rs`.
//!
//! Choices beyond that list:
//! - A name that fits several datums means the stack, else the job.
//! - A docker datum asked for alone deploys as a one-service stack of its own name.
//! - A bare member name picks the datum the catalog's dependencies pick (cli first, then
//!   apt, bash, docker, …), so the installer and the deploy agree.
//! - The port `[b00t.services]` names becomes the workload's first port (adapters reach a
//!   service on its first port).
//! - A job's restart policy is `no` or `on-failure`; a stack's `[b00t.env]` reaches the
//!   members of the stacks inside it, not the stacks it requires.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use b00t_datums::{Catalog, Datum, DatumError, DatumId, DatumType};
use toml::{Table, Value};

use crate::docker_args::{self, parse_memory};
use crate::error::DeployError;
use crate::intent::{Intent, IntentKind, Port, Protocol, Restart, Wait, Workload, WorkloadRole};
use crate::refs::{expand_vars, Vars};

impl Intent {
    /// Reads the stack, job or docker datum `query` (an id or a bare name) and everything
    /// it contains or requires into one deployment, expanding `${VAR}` from `vars`.
    pub fn from_catalog(
        catalog: &Catalog,
        query: &str,
        vars: &Vars,
    ) -> Result<Intent, DeployError> {
        let root = find_root(catalog, query)?;
        let mut reader = Reader {
            catalog,
            vars,
            path: Vec::new(),
            stacks_done: BTreeSet::new(),
            stacks: Vec::new(),
            workloads: Vec::new(),
            installs: Vec::new(),
            notes: Vec::new(),
        };
        let (kind, project, compose_path) = match root.kind {
            DatumType::Stack => {
                reader.stack(root, &BTreeMap::new(), true)?;
                let project = stack_project(root)?;
                (IntentKind::Stack, project, compose_path(root)?)
            }
            DatumType::Job => {
                reader.member(root, WorkloadRole::Job, &root.name, &BTreeMap::new(), None)?;
                (IntentKind::Job, default_project(root)?, None)
            }
            DatumType::Docker => {
                reader.member(
                    root,
                    WorkloadRole::Service,
                    &root.name,
                    &BTreeMap::new(),
                    None,
                )?;
                (IntentKind::Stack, default_project(root)?, None)
            }
            _ => {
                return Err(DeployError::NotFound(format!(
                    "`{}` is a {} datum: b00t deploys a stack, a job or a docker datum; install \
                     this one with `b00t install {}`, or list it in a stack's `members`",
                    root.id, root.kind, root.id
                )))
            }
        };
        let mut notes = reader.notes;
        let workloads = order(reader.workloads, &mut notes)?;
        Ok(Intent {
            datum: root.id.clone(),
            kind,
            project,
            stacks: reader.stacks,
            workloads,
            installs: reader.installs,
            compose_path,
            notes,
        })
    }
}

/// One `[b00t.services]` entry.
struct ServiceEntry {
    name: String,
    port: Option<u16>,
    protocol: Option<String>,
}

struct Reader<'a> {
    catalog: &'a Catalog,
    vars: &'a Vars,
    /// The datums being read, outermost first: a datum met again while on it is a cycle.
    path: Vec<DatumId>,
    /// Stacks already flattened (a stack required twice joins once).
    stacks_done: BTreeSet<DatumId>,
    stacks: Vec<String>,
    workloads: Vec<Workload>,
    installs: Vec<DatumId>,
    notes: Vec<String>,
}

impl Reader<'_> {
    /// Enters `datum` on the path, or fails with the cycle it closes.
    fn enter(&mut self, datum: &Datum) -> Result<(), DeployError> {
        if let Some(start) = self.path.iter().position(|id| *id == datum.id) {
            let mut cycle: Vec<&str> = self.path[start..].iter().map(DatumId::as_str).collect();
            cycle.push(datum.id.as_str());
            return Err(DeployError::Cycle(cycle.join(" -> ")));
        }
        self.path.push(datum.id.clone());
        Ok(())
    }

    /// Flattens the stack `datum`: its required stacks, then its members. `inherited` is
    /// the environment of the stacks it sits in.
    fn stack(
        &mut self,
        datum: &Datum,
        inherited: &BTreeMap<String, String>,
        is_root: bool,
    ) -> Result<(), DeployError> {
        self.enter(datum)?;
        if self.stacks_done.contains(&datum.id) {
            self.path.pop();
            return Ok(());
        }
        self.required_stacks(datum)?;
        let stack_table = b00t_table(datum, "stack")?;
        if let Some(table) = stack_table {
            note_unknown(
                &mut self.notes,
                datum,
                "[b00t.stack]",
                table,
                &["members", "project", "namespace", "compose_path"],
            );
        }
        let has_compose_path = stack_table.is_some_and(|t| t.contains_key("compose_path"));
        if has_compose_path && !is_root {
            return Err(field(
                datum,
                "has a `[b00t.stack] compose_path`, which only the stack deployed may have: \
                 deploy it on its own, or list its services as members",
            ));
        }
        let mut members: Vec<String> = datum.members.clone();
        if let Some(value) = stack_table.and_then(|t| t.get("members")) {
            for member in strings(datum, "[b00t.stack] members", value)? {
                if !members.contains(&member) {
                    members.push(member);
                }
            }
        }
        if members.is_empty() && !has_compose_path {
            return Err(field(
                datum,
                format!(
                    "stack `{}` has no members: list its docker, job and other datums in \
                     `members`, or give `[b00t.stack] compose_path`",
                    datum.name
                ),
            ));
        }
        let mut env = inherited.clone();
        env.extend(self.expanded_env(datum)?);

        let mut resolved: Vec<&Datum> = Vec::with_capacity(members.len());
        for raw in &members {
            let member = resolve_member(self.catalog, raw).ok_or_else(|| {
                let hint = match self.catalog.find(raw, None) {
                    Err(error) => error.to_string(),
                    Ok(_) => String::new(),
                };
                DeployError::NotFound(format!(
                    "stack `{}` has the member `{raw}`, which is not in the catalog: {hint}",
                    datum.id
                ))
            })?;
            resolved.push(member);
        }
        let services = self.services(datum, &resolved)?;
        for member in resolved {
            let service = services.get(&member.id);
            match member.kind {
                DatumType::Docker => {
                    self.member(member, WorkloadRole::Service, &datum.name, &env, service)?
                }
                DatumType::Job => {
                    self.member(member, WorkloadRole::Job, &datum.name, &env, service)?
                }
                DatumType::Stack => self.stack(member, &env, false)?,
                DatumType::Cli | DatumType::Apt | DatumType::Bash | DatumType::Mcp => {
                    if !self.installs.contains(&member.id) {
                        self.installs.push(member.id.clone());
                    }
                }
                _ => {
                    return Err(field(
                        datum,
                        format!(
                            "member `{}` is a {} datum: a stack deploys docker, job and stack \
                             members and installs cli, apt, bash and mcp ones; remove it from \
                             `members`",
                            member.id, member.kind
                        ),
                    ))
                }
            }
        }
        self.stacks_done.insert(datum.id.clone());
        self.stacks.push(datum.name.clone());
        self.path.pop();
        Ok(())
    }

    /// Flattens the stacks `[b00t.dependencies] requires_stacks` of `datum` names.
    fn required_stacks(&mut self, datum: &Datum) -> Result<(), DeployError> {
        let Some(dependencies) = b00t_table(datum, "dependencies")? else {
            return Ok(());
        };
        let Some(value) = dependencies.get("requires_stacks") else {
            return Ok(());
        };
        for raw in strings(datum, "[b00t.dependencies] requires_stacks", value)? {
            let stack = match self.catalog.find(&raw, Some(&DatumType::Stack)) {
                Ok(stack) if stack.kind == DatumType::Stack => stack,
                Ok(other) => {
                    return Err(field(
                        datum,
                        format!(
                            "`requires_stacks` names `{raw}`, which is the {} datum `{}`, not \
                             a stack: list stacks there, and wait for services with \
                             `wait_for_services`",
                            other.kind, other.id
                        ),
                    ))
                }
                Err(error) => {
                    return Err(DeployError::NotFound(format!(
                        "`{}` requires the stack `{raw}`, which is not in the catalog: {error}",
                        datum.id
                    )))
                }
            };
            self.stack(stack, &BTreeMap::new(), false)?;
        }
        Ok(())
    }

    /// `[b00t.services]` of the stack `datum`, by the member each names.
    fn services(
        &mut self,
        datum: &Datum,
        members: &[&Datum],
    ) -> Result<BTreeMap<DatumId, ServiceEntry>, DeployError> {
        let mut by_member: BTreeMap<DatumId, ServiceEntry> = BTreeMap::new();
        let Some(table) = b00t_table(datum, "services")? else {
            return Ok(by_member);
        };
        let listed = || {
            let ids: Vec<String> = members.iter().map(|m| format!("`{}`", m.id)).collect();
            ids.join(", ")
        };
        for (key, value) in table {
            let where_ = format!("[b00t.services] {key}");
            let Value::Table(entry) = value else {
                return Err(field(
                    datum,
                    format!(
                        "`{where_}` must be a table: `{key} = {{ port = 8080, protocol = \"http\" }}`"
                    ),
                ));
            };
            note_unknown(
                &mut self.notes,
                datum,
                &where_,
                entry,
                &["port", "protocol", "member"],
            );
            if !is_dns_label(key) {
                return Err(field(
                    datum,
                    format!(
                        "service name `{key}` in `[b00t.services]` is not a DNS label: use \
                         lowercase letters, digits and `-`, at most 63"
                    ),
                ));
            }
            let member_name = match entry.get("member") {
                None => key.clone(),
                Some(Value::String(member)) => member.clone(),
                Some(other) => {
                    return Err(wrong_type(
                        datum,
                        &format!("{where_} member"),
                        "a string",
                        other,
                    ))
                }
            };
            let target = resolve_member(self.catalog, &member_name)
                .filter(|found| members.iter().any(|m| m.id == found.id))
                .or_else(|| members.iter().copied().find(|m| m.name == member_name))
                .ok_or_else(|| {
                    field(
                        datum,
                        format!(
                            "`[b00t.services] {key}` names the member `{member_name}`, which \
                             the stack does not have; its members are {}: set `member = \"…\"` \
                             to one of them",
                            listed()
                        ),
                    )
                })?;
            if !matches!(target.kind, DatumType::Docker | DatumType::Job) {
                return Err(field(
                    datum,
                    format!(
                        "`[b00t.services] {key}` names `{}`, a {} datum: only docker and job \
                         members are services",
                        target.id, target.kind
                    ),
                ));
            }
            let port = match entry.get("port") {
                None => None,
                Some(Value::Integer(port)) => Some(
                    u16::try_from(*port)
                        .ok()
                        .filter(|port| *port > 0)
                        .ok_or_else(|| {
                            field(
                                datum,
                                format!(
                                    "`{where_} port` is `{port}`: write a port from 1 to 65535"
                                ),
                            )
                        })?,
                ),
                Some(other) => {
                    return Err(wrong_type(
                        datum,
                        &format!("{where_} port"),
                        "a port number",
                        other,
                    ))
                }
            };
            let protocol = match entry.get("protocol") {
                None => None,
                Some(Value::String(protocol)) => Some(protocol.clone()),
                Some(other) => {
                    return Err(wrong_type(
                        datum,
                        &format!("{where_} protocol"),
                        "a string (`http`)",
                        other,
                    ))
                }
            };
            if let Some(earlier) = by_member.get(&target.id) {
                return Err(field(
                    datum,
                    format!(
                        "`[b00t.services]` names the member `{}` twice, as `{}` and `{key}`: \
                         keep one",
                        target.id, earlier.name
                    ),
                ));
            }
            by_member.insert(
                target.id.clone(),
                ServiceEntry {
                    name: key.clone(),
                    port,
                    protocol,
                },
            );
        }
        Ok(by_member)
    }

    /// Reads the docker or job datum `datum` into a workload of `stack`, after the stacks
    /// it requires.
    fn member(
        &mut self,
        datum: &Datum,
        role: WorkloadRole,
        stack: &str,
        stack_env: &BTreeMap<String, String>,
        service: Option<&ServiceEntry>,
    ) -> Result<(), DeployError> {
        self.enter(datum)?;
        self.required_stacks(datum)?;
        let workload = self.workload(datum, role, stack, stack_env, service)?;
        self.workloads.push(workload);
        self.path.pop();
        Ok(())
    }

    fn workload(
        &mut self,
        datum: &Datum,
        role: WorkloadRole,
        stack: &str,
        stack_env: &BTreeMap<String, String>,
        service: Option<&ServiceEntry>,
    ) -> Result<Workload, DeployError> {
        let id = datum.id.as_str();
        let container = b00t_table(datum, "container")?;
        if let Some(table) = container {
            note_unknown(
                &mut self.notes,
                datum,
                "[b00t.container]",
                table,
                &["image", "command", "args"],
            );
        }
        let name = match service {
            Some(service) => service.name.clone(),
            None if is_dns_label(&datum.name) => datum.name.clone(),
            None => {
                return Err(field(
                    datum,
                    format!(
                        "the name `{}` is not a DNS label, which every orchestrator needs: name \
                         the service in its stack's `[b00t.services]` (`web = {{ member = \"{}\" }}`)",
                        datum.name, datum.name
                    ),
                ))
            }
        };

        let image = match (&datum.image, container.and_then(|t| t.get("image"))) {
            (Some(image), _) => image.clone(),
            (None, Some(Value::String(image))) => image.clone(),
            (None, Some(other)) => {
                return Err(wrong_type(
                    datum,
                    "[b00t.container] image",
                    "a string",
                    other,
                ))
            }
            (None, None) => {
                return Err(field(
                    datum,
                    "has no image: set `image` (docker datums) or `[b00t.container] image`",
                ))
            }
        };
        let image = self.expand(&image, &format!("`image` of `{id}`"))?;

        let docker_what = format!("`docker_args` of `{id}`");
        let args_expanded = datum
            .docker_args
            .iter()
            .map(|arg| self.expand(arg, &docker_what))
            .collect::<Result<Vec<_>, _>>()?;
        let parsed = docker_args::parse(id, &args_expanded)?;

        let mut command = match container.and_then(|t| t.get("command")) {
            Some(value) => self.expanded_strings(datum, "[b00t.container] command", value)?,
            None => Vec::new(),
        };
        if let Some(entrypoint) = parsed.entrypoint {
            if !command.is_empty() {
                return Err(field(
                    datum,
                    "gives both `--entrypoint` in docker_args and `[b00t.container] command`: \
                     keep one",
                ));
            }
            command = entrypoint;
        }
        let args = match container.and_then(|t| t.get("args")) {
            Some(value) => self.expanded_strings(datum, "[b00t.container] args", value)?,
            None => Vec::new(),
        };

        let mut env = stack_env.clone();
        env.extend(self.expanded_env(datum)?);
        env.extend(parsed.env);

        let mut ports = parsed.ports;
        if let Some(port) = service.and_then(|s| s.port) {
            let main = match ports.iter().position(|p| p.container == port) {
                Some(index) => ports.remove(index),
                None => Port {
                    container: port,
                    host: None,
                    host_ip: None,
                    protocol: Protocol::Tcp,
                },
            };
            ports.insert(0, main);
        }

        let restart = match (role, parsed.restart) {
            (WorkloadRole::Service, restart) => restart.unwrap_or(Restart::UnlessStopped),
            (WorkloadRole::Job, None) => Restart::No,
            (WorkloadRole::Job, Some(restart @ (Restart::No | Restart::OnFailure(_)))) => restart,
            (WorkloadRole::Job, Some(_)) => {
                return Err(field(
                    datum,
                    "is a job, which runs to completion: its `--restart` can be `no` or \
                     `on-failure[:N]`; make it a docker datum to keep it running",
                ))
            }
        };

        let mut resources = parsed.resources;
        if let Some(table) = b00t_table(datum, "resources")? {
            note_unknown(
                &mut self.notes,
                datum,
                "[b00t.resources]",
                table,
                &["cpu", "memory", "gpu_count", "gpu_type"],
            );
            read_resources(datum, table, &mut resources)?;
        }
        let gpu_count_given =
            b00t_table(datum, "resources")?.is_some_and(|t| t.contains_key("gpu_count"));
        if parsed.gpus_all && !gpu_count_given {
            return Err(DeployError::DockerArg {
                datum: id.to_owned(),
                arg: "--gpus all".to_owned(),
                why: "`all` is no count for Kubernetes and Nomad: write `--gpus 1` (or how \
                      many), or set `gpu_count` in `[b00t.resources]`"
                    .to_owned(),
            });
        }

        let hints = match b00t_table(datum, "orchestration")? {
            Some(table) => read_hints(datum, table)?,
            None => BTreeMap::new(),
        };
        let wait_for = self.waits(datum)?;
        let build = match b00t_table(datum, "build")? {
            Some(table) => {
                note_unknown(&mut self.notes, datum, "[b00t.build]", table, &["base"]);
                match table.get("base") {
                    None => None,
                    Some(Value::String(base)) => Some(base.clone()),
                    Some(other) => {
                        return Err(wrong_type(
                            datum,
                            "[b00t.build] base",
                            "a string (`busybox-static`)",
                            other,
                        ))
                    }
                }
            }
            None => None,
        };
        let local = match b00t_table(datum, "local")? {
            Some(table) => {
                note_unknown(
                    &mut self.notes,
                    datum,
                    "[b00t.local]",
                    table,
                    &["command", "args"],
                );
                let mut local = match table.get("command") {
                    Some(value) => self.expanded_strings(datum, "[b00t.local] command", value)?,
                    None => Vec::new(),
                };
                if local.is_empty() {
                    return Err(field(
                        datum,
                        "`[b00t.local]` needs a `command`: the program a direct run starts",
                    ));
                }
                if let Some(value) = table.get("args") {
                    local.extend(self.expanded_strings(datum, "[b00t.local] args", value)?);
                }
                Some(local)
            }
            None => None,
        };
        if let Some(container_name) = parsed.name.filter(|n| *n != name) {
            self.notes.push(format!(
                "docker_args `--name {container_name}` of `{id}` is not used: the workload is \
                 called `{name}`"
            ));
        }

        Ok(Workload {
            name,
            stack: stack.to_owned(),
            datum: datum.id.clone(),
            role,
            image,
            build,
            command,
            args,
            env,
            ports,
            volumes: parsed.volumes,
            health: parsed.health,
            restart,
            resources,
            labels: parsed.labels,
            hints,
            wait_for,
            local,
            workdir: parsed.workdir,
            user: parsed.user,
            hostname: parsed.hostname,
            read_only: parsed.read_only,
            protocol: service.and_then(|s| s.protocol.clone()),
        })
    }

    /// `[b00t.dependencies] wait_for_services` of `datum`.
    fn waits(&mut self, datum: &Datum) -> Result<Vec<Wait>, DeployError> {
        let Some(dependencies) = b00t_table(datum, "dependencies")? else {
            return Ok(Vec::new());
        };
        note_unknown(
            &mut self.notes,
            datum,
            "[b00t.dependencies]",
            dependencies,
            &["requires_stacks", "wait_for_services"],
        );
        let Some(value) = dependencies.get("wait_for_services") else {
            return Ok(Vec::new());
        };
        let mut waits = Vec::new();
        for entry in strings(datum, "[b00t.dependencies] wait_for_services", value)? {
            let parsed = entry.rsplit_once(':').and_then(|(service, port)| {
                let port = port.parse::<u16>().ok().filter(|port| *port > 0)?;
                (!service.is_empty()).then(|| Wait {
                    service: service.to_owned(),
                    port,
                })
            });
            let Some(wait) = parsed else {
                return Err(field(
                    datum,
                    format!(
                        "`wait_for_services` entry `{entry}` is not `service:port`: write it \
                         like `web:8080`"
                    ),
                ));
            };
            waits.push(wait);
        }
        Ok(waits)
    }

    fn expand(&self, text: &str, what: &str) -> Result<String, DeployError> {
        expand_vars(text, self.vars, what)
    }

    /// `datum`'s `[b00t.env]`, each value expanded.
    fn expanded_env(&self, datum: &Datum) -> Result<BTreeMap<String, String>, DeployError> {
        datum
            .env
            .iter()
            .map(|(key, value)| {
                let what = format!("`[b00t.env] {key}` of `{}`", datum.id);
                Ok((key.clone(), self.expand(value, &what)?))
            })
            .collect()
    }

    /// A string or an array of strings, each expanded.
    fn expanded_strings(
        &self,
        datum: &Datum,
        field_name: &str,
        value: &Value,
    ) -> Result<Vec<String>, DeployError> {
        let what = format!("`{field_name}` of `{}`", datum.id);
        let list = match value {
            Value::String(one) => vec![one.clone()],
            other => strings(datum, field_name, other)?,
        };
        list.iter().map(|item| self.expand(item, &what)).collect()
    }
}

/// The datum `query` names: for a name several datums have, the stack, else the job.
fn find_root<'c>(catalog: &'c Catalog, query: &str) -> Result<&'c Datum, DeployError> {
    let found = match catalog.find(query, None) {
        Err(DatumError::Ambiguous { .. }) => catalog
            .find(query, Some(&DatumType::Stack))
            .ok()
            .filter(|d| d.kind == DatumType::Stack)
            .or_else(|| {
                catalog
                    .find(query, Some(&DatumType::Job))
                    .ok()
                    .filter(|d| d.kind == DatumType::Job)
            })
            .ok_or_else(|| catalog.find(query, None).err()),
        other => other.map_err(Some),
    };
    found.map_err(|error| {
        DeployError::NotFound(
            error.map_or_else(|| format!("no datum `{query}`"), |e| e.to_string()),
        )
    })
}

/// What a `members` entry names: the exact id, else the datum with that name whose type
/// ranks first (the catalog's own rule for dependencies).
fn resolve_member<'c>(catalog: &'c Catalog, raw: &str) -> Option<&'c Datum> {
    if let Some(datum) = DatumId::parse(raw).and_then(|id| catalog.get(&id)) {
        return Some(datum);
    }
    catalog
        .iter()
        .filter(|datum| datum.name == raw)
        .min_by(|a, b| a.kind.cmp(&b.kind))
}

/// `[b00t.stack] project` or `namespace`, else the default.
fn stack_project(datum: &Datum) -> Result<String, DeployError> {
    let table = b00t_table(datum, "stack")?;
    let mut given = None;
    for key in ["project", "namespace"] {
        match table.and_then(|t| t.get(key)) {
            None => {}
            Some(Value::String(value)) => {
                if !is_dns_label(value) {
                    return Err(field(
                        datum,
                        format!(
                            "`[b00t.stack] {key}` is `{value}`, which is not a DNS label: use \
                             lowercase letters, digits and `-`, at most 63, starting and ending \
                             with a letter or digit"
                        ),
                    ));
                }
                match &given {
                    Some((first, earlier)) if earlier != value => {
                        return Err(field(
                            datum,
                            format!(
                                "`[b00t.stack] {first}` is `{earlier}` but `{key}` is `{value}`: \
                                 they name one thing, so keep one"
                            ),
                        ))
                    }
                    Some(_) => {}
                    None => given = Some((key, value.clone())),
                }
            }
            Some(other) => {
                return Err(wrong_type(
                    datum,
                    &format!("[b00t.stack] {key}"),
                    "a string",
                    other,
                ))
            }
        }
    }
    match given {
        Some((_, project)) => Ok(project),
        None => default_project(datum),
    }
}

/// The datum's name, lowercase, with `_` and `.` turned into `-`.
fn default_project(datum: &Datum) -> Result<String, DeployError> {
    let project: String = datum
        .name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if matches!(c, '_' | '.') { '-' } else { c })
        .collect();
    if is_dns_label(&project) {
        Ok(project)
    } else {
        Err(field(
            datum,
            format!(
                "the project name `{project}` made from the datum's name is not a DNS label: set \
                 `[b00t.stack] project` (lowercase letters, digits and `-`, at most 63)"
            ),
        ))
    }
}

/// `[b00t.stack] compose_path`: an existing file inside the datum's catalog folder.
fn compose_path(datum: &Datum) -> Result<Option<PathBuf>, DeployError> {
    let Some(value) = b00t_table(datum, "stack")?.and_then(|t| t.get("compose_path")) else {
        return Ok(None);
    };
    let Value::String(written) = value else {
        return Err(wrong_type(
            datum,
            "[b00t.stack] compose_path",
            "a path (string)",
            value,
        ));
    };
    let outside = || {
        field(
            datum,
            format!(
                "`[b00t.stack] compose_path` `{written}` leaves the catalog folder {}: give a \
                 path inside it, relative to it",
                datum.root.display()
            ),
        )
    };
    let mut relative = PathBuf::new();
    for component in Path::new(written).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !relative.pop() {
                    return Err(outside());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    let path = datum.root.join(&relative);
    if !path.is_file() {
        return Err(field(
            datum,
            format!(
                "`[b00t.stack] compose_path` `{written}` is not a file: {} does not exist; \
                 write the compose file there or fix the path",
                path.display()
            ),
        ));
    }
    let canonical = |p: &Path| {
        std::fs::canonicalize(p)
            .map_err(|error| field(datum, format!("cannot resolve {}: {error}", p.display())))
    };
    let (root, file) = (canonical(&datum.root)?, canonical(&path)?);
    if !file.starts_with(&root) {
        return Err(outside());
    }
    Ok(Some(file))
}

/// Topological order over `wait_for` (ties by name), with the checks that need every
/// workload: unique names, waits on services that exist.
fn order(workloads: Vec<Workload>, notes: &mut Vec<String>) -> Result<Vec<Workload>, DeployError> {
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (index, workload) in workloads.iter().enumerate() {
        if let Some(&earlier) = by_name.get(&workload.name) {
            let first = &workloads[earlier];
            return Err(DeployError::Field {
                datum: workload.datum.to_string(),
                message: format!(
                    "two workloads are called `{}`: `{}` (stack `{}`) and `{}` (stack `{}`): \
                     name one differently in its stack's `[b00t.services]`",
                    workload.name, first.datum, first.stack, workload.datum, workload.stack
                ),
            });
        }
        by_name.insert(workload.name.clone(), index);
    }
    let names: Vec<String> = by_name.keys().map(|n| format!("`{n}`")).collect();
    for workload in &workloads {
        for wait in &workload.wait_for {
            let Some(&target) = by_name.get(&wait.service) else {
                return Err(DeployError::Field {
                    datum: workload.datum.to_string(),
                    message: format!(
                        "`wait_for_services` names `{}`, which is not a service of this \
                         deployment; its services are {}: add its stack to `requires_stacks`",
                        wait.service,
                        names.join(", ")
                    ),
                });
            };
            if wait.service == workload.name {
                return Err(DeployError::Field {
                    datum: workload.datum.to_string(),
                    message: format!("`{}` waits for itself: remove that entry", workload.name),
                });
            }
            let target = &workloads[target];
            let role = match workload.role {
                WorkloadRole::Service => "service",
                WorkloadRole::Job => "job",
            };
            if target.health.is_none() {
                notes.push(format!(
                    "{role} `{}` waits for `{}`, which has no health check: the orchestrators \
                     can only wait for its port",
                    workload.name, target.name
                ));
            }
            if !target.ports.iter().any(|p| p.container == wait.port) {
                notes.push(format!(
                    "{role} `{}` waits for `{}:{}`, but `{}` declares no port {}: add it to \
                     `[b00t.services]` or `-p`/`--expose`",
                    workload.name, target.name, wait.port, target.name, wait.port
                ));
            }
        }
    }

    // Kahn's algorithm: the ready workloads by name.
    let mut remaining: BTreeMap<&str, BTreeSet<&str>> = workloads
        .iter()
        .map(|w| {
            let deps = w
                .wait_for
                .iter()
                .map(|wait| wait.service.as_str())
                .collect();
            (w.name.as_str(), deps)
        })
        .collect();
    let mut sorted: Vec<String> = Vec::with_capacity(workloads.len());
    while let Some(next) = remaining
        .iter()
        .find(|(_, deps)| deps.is_empty())
        .map(|(name, _)| *name)
    {
        remaining.remove(next);
        for deps in remaining.values_mut() {
            deps.remove(next);
        }
        sorted.push(next.to_owned());
    }
    if let Some((first, _)) = remaining.iter().next() {
        let mut cycle = vec![(*first).to_owned()];
        let mut at = *first;
        while let Some(next) = remaining.get(at).and_then(|deps| deps.iter().next()) {
            if let Some(start) = cycle.iter().position(|n| n == next) {
                cycle.drain(..start);
                cycle.push((*next).to_owned());
                break;
            }
            cycle.push((*next).to_owned());
            at = *next;
        }
        let datum = workloads[by_name[*first]].datum.to_string();
        return Err(DeployError::Field {
            datum,
            message: format!(
                "`wait_for_services` go round in a circle ({}): nothing could start first; \
                 remove one of the waits",
                cycle.join(" -> ")
            ),
        });
    }
    let mut slots: Vec<Option<Workload>> = workloads.into_iter().map(Some).collect();
    Ok(sorted
        .iter()
        .filter_map(|name| slots[by_name[name]].take())
        .collect())
}

/// `[b00t.resources]` over what docker_args said.
fn read_resources(
    datum: &Datum,
    table: &Table,
    resources: &mut crate::intent::Resources,
) -> Result<(), DeployError> {
    if let Some(value) = table.get("cpu") {
        let cpu = match value {
            Value::Float(cpu) => Some(*cpu),
            Value::Integer(cpu) => Some(*cpu as f64),
            _ => None,
        }
        .filter(|cpu| cpu.is_finite() && *cpu > 0.0)
        .ok_or_else(|| {
            field(
                datum,
                format!(
                    "`[b00t.resources] cpu` is `{value}`: write a number of cores (`0.5`, `2`)"
                ),
            )
        })?;
        resources.cpu = Some(cpu);
    }
    if let Some(value) = table.get("memory") {
        let bytes = match value {
            Value::String(text) => parse_memory(text)
                .map_err(|why| field(datum, format!("`[b00t.resources] memory`: {why}")))?,
            Value::Integer(bytes) if *bytes > 0 => *bytes as u64,
            _ => {
                return Err(field(
                    datum,
                    format!(
                        "`[b00t.resources] memory` is `{value}`: write a size (`512Mi`, `1Gi`, \
                         `512m`) or a number of bytes"
                    ),
                ))
            }
        };
        resources.memory = Some(bytes);
    }
    if let Some(value) = table.get("gpu_count") {
        let count = match value {
            Value::Integer(count) => u32::try_from(*count).ok(),
            _ => None,
        }
        .ok_or_else(|| {
            field(
                datum,
                format!("`[b00t.resources] gpu_count` is `{value}`: write a number of GPUs (`1`)"),
            )
        })?;
        resources.gpu_count = (count > 0).then_some(count);
    }
    match table.get("gpu_type") {
        None => {}
        Some(Value::String(kind)) => resources.gpu_type = Some(kind.clone()),
        Some(other) => {
            return Err(wrong_type(
                datum,
                "[b00t.resources] gpu_type",
                "a string",
                other,
            ))
        }
    }
    Ok(())
}

/// `[b00t.orchestration]`: strings, with numbers and booleans as they are written.
fn read_hints(datum: &Datum, table: &Table) -> Result<BTreeMap<String, String>, DeployError> {
    table
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => value.to_string(),
                other => {
                    return Err(wrong_type(
                        datum,
                        &format!("[b00t.orchestration] {key}"),
                        "a string, number or boolean",
                        other,
                    ))
                }
            };
            Ok((key.clone(), text))
        })
        .collect()
}

/// The table `[b00t.<key>]` of `datum`, if it has one.
fn b00t_table<'d>(datum: &'d Datum, key: &str) -> Result<Option<&'d Table>, DeployError> {
    match datum
        .raw
        .get("b00t")
        .and_then(Value::as_table)
        .and_then(|t| t.get(key))
    {
        None => Ok(None),
        Some(Value::Table(table)) => Ok(Some(table)),
        Some(other) => Err(wrong_type(
            datum,
            &format!("[b00t.{key}]"),
            "a table",
            other,
        )),
    }
}

/// An array of strings.
fn strings(datum: &Datum, field_name: &str, value: &Value) -> Result<Vec<String>, DeployError> {
    let wrong = || wrong_type(datum, field_name, "an array of strings", value);
    let Value::Array(items) = value else {
        return Err(wrong());
    };
    items
        .iter()
        .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
        .collect()
}

fn note_unknown(
    notes: &mut Vec<String>,
    datum: &Datum,
    table_name: &str,
    table: &Table,
    known: &[&str],
) {
    for key in table.keys().filter(|key| !known.contains(&key.as_str())) {
        notes.push(format!(
            "`{table_name} {key}` of `{}` is not read by b00t deploy",
            datum.id
        ));
    }
}

/// A DNS label (RFC 1123): `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 63.
fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

fn field(datum: &Datum, message: impl Into<String>) -> DeployError {
    DeployError::Field {
        datum: datum.id.to_string(),
        message: message.into(),
    }
}

fn wrong_type(datum: &Datum, field_name: &str, expected: &str, found: &Value) -> DeployError {
    field(
        datum,
        format!(
            "`{field_name}` must be {expected}, not a {}",
            found.type_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::intent::{HealthTest, Resources, Volume, VolumeSource};

    /// A catalog folder with `(id, body)` datums, `body` appended to the `[b00t]` table.
    fn catalog(datums: &[(&str, &str)]) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        for (id, body) in datums {
            let (name, kind) = id.rsplit_once('.').unwrap();
            let text =
                format!("[b00t]\nname = \"{name}\"\ntype = \"{kind}\"\nhint = \"test\"\n{body}");
            std::fs::write(dir.path().join(format!("{id}.toml")), text).unwrap();
        }
        let catalog = Catalog::load(&[dir.path().to_owned()]);
        assert!(catalog.problems().is_empty(), "{:?}", catalog.problems());
        (dir, catalog)
    }

    fn read(datums: &[(&str, &str)], query: &str) -> Result<Intent, DeployError> {
        read_with(datums, query, &Vars::default())
    }

    fn read_with(datums: &[(&str, &str)], query: &str, vars: &Vars) -> Result<Intent, DeployError> {
        let (_dir, catalog) = catalog(datums);
        Intent::from_catalog(&catalog, query, vars)
    }

    /// The error's message, which must contain each of `parts`.
    fn check_error(result: Result<Intent, DeployError>, parts: &[&str]) -> DeployError {
        let error = result.expect_err("expected an error");
        let message = error.to_string();
        for part in parts {
            assert!(message.contains(part), "`{part}` not in: {message}");
        }
        error
    }

    fn names(intent: &Intent) -> Vec<&str> {
        intent.workloads.iter().map(|w| w.name.as_str()).collect()
    }

    const WEB: (&str, &str) = (
        "starter-web.docker",
        "image = \"busybox:1\"\n\
         docker_args = [\"-p\", \"127.0.0.1:${WEB_PORT:-18080}:8080\", \"--health-cmd\", \"true\"]\n",
    );
    const CHECK: (&str, &str) = (
        "check.job",
        "[b00t.container]\nimage = \"busybox:1\"\ncommand = [\"wget\"]\n\
         args = [\"-O-\", \"http://${STACK:starter:web:endpoint}/\"]\n\
         [b00t.dependencies]\nwait_for_services = [\"web:8080\"]\n",
    );
    const STARTER: (&str, &str) = (
        "starter.stack",
        "members = [\"check.job\", \"starter-web\", \"jq.cli\"]\n\
         [b00t.services]\nweb = { member = \"starter-web\", port = 8080, protocol = \"http\" }\n",
    );
    const JQ: (&str, &str) = ("jq.cli", "");

    #[test]
    fn a_stack_with_a_service_and_a_job() {
        let intent = read(&[WEB, CHECK, STARTER, JQ], "starter").unwrap();
        assert_eq!(intent.datum.as_str(), "starter.stack");
        assert_eq!(intent.kind, IntentKind::Stack);
        assert_eq!(intent.project, "starter");
        assert_eq!(intent.stacks, ["starter"]);
        assert_eq!(intent.installs, [DatumId::parse("jq.cli").unwrap()]);
        assert_eq!(names(&intent), ["web", "check"]);
        assert_eq!(intent.notes, Vec::<String>::new());

        let web = intent.workload("web").unwrap();
        assert_eq!(web.datum.as_str(), "starter-web.docker");
        assert_eq!(web.stack, "starter");
        assert_eq!(web.role, WorkloadRole::Service);
        assert_eq!(web.restart, Restart::UnlessStopped);
        assert_eq!(web.protocol.as_deref(), Some("http"));
        assert_eq!(
            web.ports,
            [Port {
                container: 8080,
                host: Some(18080),
                host_ip: Some("127.0.0.1".to_owned()),
                protocol: Protocol::Tcp,
            }]
        );
        assert_eq!(
            web.health.as_ref().unwrap().test,
            HealthTest::Shell("true".to_owned())
        );

        let check = intent.workload("check").unwrap();
        assert_eq!(check.role, WorkloadRole::Job);
        assert_eq!(check.restart, Restart::No);
        assert_eq!(check.command, ["wget"]);
        assert_eq!(check.args, ["-O-", "http://${STACK:starter:web:endpoint}/"]);
        assert_eq!(
            check.wait_for,
            [Wait {
                service: "web".to_owned(),
                port: 8080,
            }]
        );
    }

    #[test]
    fn variables_in_docker_args() {
        let vars: Vars = [("WEB_PORT", "28080")].into_iter().collect();
        let intent = read_with(&[WEB, CHECK, STARTER, JQ], "starter", &vars).unwrap();
        assert_eq!(intent.workload("web").unwrap().ports[0].host, Some(28080));

        let db = (
            "db.docker",
            "image = \"postgres:16\"\ndocker_args = [\"-e\", \"PW=${DB_PASSWORD}\"]\n",
        );
        let error = check_error(
            read(&[db], "db"),
            &[
                "`${DB_PASSWORD}` in `docker_args` of `db.docker` is not set",
                "${DB_PASSWORD:-default}",
            ],
        );
        assert!(matches!(error, DeployError::Reference(_)));
    }

    #[test]
    fn services_name_members_and_add_their_ports() {
        let api = (
            "api.docker",
            "image = \"api:1\"\ndocker_args = [\"-p\", \"9090:9090\", \"--expose\", \"7000\"]\n",
        );
        let stack = (
            "s.stack",
            "members = [\"api\"]\n[b00t.services]\napi = { port = 8080 }\n",
        );
        let intent = read(&[api, stack], "s").unwrap();
        let ports: Vec<(u16, Option<u16>)> = intent.workloads[0]
            .ports
            .iter()
            .map(|p| (p.container, p.host))
            .collect();
        assert_eq!(ports, [(8080, None), (9090, Some(9090)), (7000, None)]);

        let moved = (
            "s.stack",
            "members = [\"api\"]\n[b00t.services]\napi = { port = 7000 }\n",
        );
        let intent = read(&[api, moved], "s").unwrap();
        assert_eq!(intent.workloads[0].ports[0].container, 7000);
        assert_eq!(intent.workloads[0].ports.len(), 2);

        let stray = (
            "s.stack",
            "members = [\"api\"]\n[b00t.services]\nweb = { port = 80 }\n",
        );
        check_error(
            read(&[api, stray], "s"),
            &[
                "`[b00t.services] web` names the member `web`",
                "its members are `api.docker`",
            ],
        );
    }

    #[test]
    fn env_precedence() {
        let web = (
            "web.docker",
            "image = \"web:1\"\ndocker_args = [\"-e\", \"C=arg\"]\n\
             [b00t.env]\nB = \"datum\"\nC = \"datum\"\nD = \"${HOME_DIR:-/home}\"\n",
        );
        let stack = (
            "s.stack",
            "members = [\"web\"]\n[b00t.env]\nA = \"stack\"\nB = \"stack\"\nC = \"stack\"\n",
        );
        let intent = read(&[web, stack], "s").unwrap();
        let env = &intent.workloads[0].env;
        assert_eq!(env["A"], "stack");
        assert_eq!(env["B"], "datum");
        assert_eq!(env["C"], "arg");
        assert_eq!(env["D"], "/home");
    }

    #[test]
    fn wait_for_an_unknown_service() {
        let job = (
            "check.job",
            "[b00t.container]\nimage = \"busybox:1\"\n\
             [b00t.dependencies]\nwait_for_services = [\"db:5432\"]\n",
        );
        let stack = ("s.stack", "members = [\"check\", \"web\"]\n");
        let web = ("web.docker", "image = \"web:1\"\n");
        check_error(
            read(&[job, stack, web], "s"),
            &[
                "`check.job`",
                "names `db`",
                "its services are `check`, `web`",
                "requires_stacks",
            ],
        );
        let bad = (
            "check.job",
            "[b00t.container]\nimage = \"busybox:1\"\n\
             [b00t.dependencies]\nwait_for_services = [\"web\"]\n",
        );
        check_error(
            read(&[bad, stack, web], "s"),
            &["`web` is not `service:port`"],
        );
    }

    #[test]
    fn a_job_pulls_in_the_stacks_it_requires() {
        let check = (
            "check.job",
            "[b00t.container]\nimage = \"busybox:1\"\n\
             [b00t.dependencies]\nrequires_stacks = [\"starter\"]\nwait_for_services = [\"web:8080\"]\n",
        );
        let starter = (
            "starter.stack",
            "members = [\"starter-web\"]\n\
             [b00t.services]\nweb = { member = \"starter-web\", port = 8080 }\n",
        );
        let intent = read(&[WEB, check, starter], "check").unwrap();
        assert_eq!(intent.kind, IntentKind::Job);
        assert_eq!(intent.project, "check");
        assert_eq!(intent.stacks, ["starter"]);
        assert_eq!(names(&intent), ["web", "check"]);
        assert_eq!(intent.workload("check").unwrap().stack, "check");
        assert_eq!(intent.workload("web").unwrap().stack, "starter");
    }

    #[test]
    fn cycles_are_errors_naming_the_path() {
        let a = (
            "a.stack",
            "members = [\"x\"]\n[b00t.dependencies]\nrequires_stacks = [\"b\"]\n",
        );
        let b = (
            "b.stack",
            "members = [\"x\"]\n[b00t.dependencies]\nrequires_stacks = [\"a\"]\n",
        );
        let x = ("x.docker", "image = \"x:1\"\n");
        let error = read(&[a, b, x], "a").unwrap_err();
        assert_eq!(
            error,
            DeployError::Cycle("a.stack -> b.stack -> a.stack".to_owned())
        );
        assert_eq!(
            error.to_string(),
            "cycle in requires_stacks: a.stack -> b.stack -> a.stack"
        );

        let outer = ("outer.stack", "members = [\"inner\"]\n");
        let inner = ("inner.stack", "members = [\"outer\"]\n");
        assert_eq!(
            read(&[outer, inner], "outer").unwrap_err(),
            DeployError::Cycle("outer.stack -> inner.stack -> outer.stack".to_owned())
        );

        let job = (
            "j.job",
            "[b00t.container]\nimage = \"x:1\"\n[b00t.dependencies]\nrequires_stacks = [\"s\"]\n",
        );
        let stack = ("s.stack", "members = [\"j\"]\n");
        assert_eq!(
            read(&[job, stack], "s").unwrap_err(),
            DeployError::Cycle("s.stack -> j.job -> s.stack".to_owned())
        );
    }

    #[test]
    fn a_stack_required_twice_joins_once() {
        let base = ("base.stack", "members = [\"x\"]\n");
        let x = ("x.docker", "image = \"x:1\"\n");
        let left = (
            "left.stack",
            "members = [\"l\"]\n[b00t.dependencies]\nrequires_stacks = [\"base\"]\n",
        );
        let l = ("l.docker", "image = \"l:1\"\n");
        let top = ("top.stack", "members = [\"left\", \"base\"]\n");
        let intent = read(&[base, x, left, l, top], "top").unwrap();
        assert_eq!(intent.stacks, ["base", "left", "top"]);
        assert_eq!(names(&intent), ["l", "x"]);
    }

    #[test]
    fn missing_and_wrong_members() {
        let stack = ("s.stack", "members = [\"web\", \"ghost\"]\n");
        let web = ("web.docker", "image = \"web:1\"\n");
        let error = check_error(
            read(&[stack, web], "s"),
            &["stack `s.stack` has the member `ghost`, which is not in the catalog"],
        );
        assert!(matches!(error, DeployError::NotFound(_)));

        let stack = ("s.stack", "members = [\"valkey.k8s\"]\n");
        check_error(
            read(&[stack, ("valkey.k8s", "")], "s"),
            &[
                "member `valkey.k8s` is a k8s datum",
                "remove it from `members`",
            ],
        );
        check_error(
            read(&[("empty.stack", "")], "empty"),
            &["stack `empty` has no members"],
        );
        check_error(
            read(&[JQ], "jq"),
            &["`jq.cli` is a cli datum", "b00t install jq.cli"],
        );
        check_error(read(&[JQ], "nothing"), &["no datum `nothing`"]);
    }

    #[test]
    fn members_in_the_stack_table_are_read_too() {
        let stack = (
            "s.stack",
            "members = [\"a\"]\n[b00t.stack]\nmembers = [\"b\", \"a\"]\n",
        );
        let a = ("a.docker", "image = \"a:1\"\n");
        let b = ("b.docker", "image = \"b:1\"\n");
        assert_eq!(names(&read(&[stack, a, b], "s").unwrap()), ["a", "b"]);
    }

    #[test]
    fn a_job_with_resources_hints_and_a_local_run() {
        let job = (
            "train.job",
            "[b00t.container]\nimage = \"trainer:${TAG:-1}\"\ncommand = \"python\"\n\
             args = [\"train.py\", \"--out=${OUT:-/out}\"]\n\
             [b00t.resources]\ncpu = 2\nmemory = \"1Gi\"\ngpu_count = 1\ngpu_type = \"nvidia-tesla-t4\"\n\
             [b00t.orchestration]\nqueue = \"gpu\"\npriority = 5\npreemptible = true\n\
             [b00t.build]\nbase = \"busybox-static\"\n\
             [b00t.local]\ncommand = \"python3\"\nargs = [\"train.py\"]\n",
        );
        let intent = read(&[job], "train").unwrap();
        assert_eq!(intent.kind, IntentKind::Job);
        let train = &intent.workloads[0];
        assert_eq!(train.image, "trainer:1");
        assert_eq!(train.command, ["python"]);
        assert_eq!(train.args, ["train.py", "--out=/out"]);
        assert_eq!(
            train.resources,
            Resources {
                cpu: Some(2.0),
                memory: Some(1 << 30),
                gpu_count: Some(1),
                gpu_type: Some("nvidia-tesla-t4".to_owned()),
            }
        );
        let hints: Vec<(&str, &str)> = train
            .hints
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            hints,
            [("preemptible", "true"), ("priority", "5"), ("queue", "gpu")]
        );
        assert_eq!(train.build.as_deref(), Some("busybox-static"));
        assert_eq!(
            train.local,
            Some(vec!["python3".to_owned(), "train.py".to_owned()])
        );
        assert_eq!(train.restart, Restart::No);
    }

    #[test]
    fn resources_override_docker_args() {
        let gpu = (
            "gpu.docker",
            "image = \"ollama:1\"\ndocker_args = [\"-m\", \"64m\", \"--cpus\", \"1\", \"--gpus\", \"all\"]\n\
             [b00t.resources]\nmemory = 134217728\ngpu_count = 2\n",
        );
        let resources = &read(&[gpu], "gpu").unwrap().workloads[0].resources;
        assert_eq!(resources.memory, Some(128 << 20));
        assert_eq!(resources.cpu, Some(1.0));
        assert_eq!(resources.gpu_count, Some(2));

        let all = (
            "gpu.docker",
            "image = \"ollama:1\"\ndocker_args = [\"--gpus\", \"all\"]\n",
        );
        let error = check_error(read(&[all], "gpu"), &["`--gpus all`", "gpu_count"]);
        assert!(matches!(error, DeployError::DockerArg { .. }));

        let bad = (
            "j.job",
            "[b00t.container]\nimage = \"x\"\n[b00t.resources]\ncpu = \"lots\"\n",
        );
        check_error(read(&[bad], "j"), &["`[b00t.resources] cpu` is `\"lots\"`"]);
        let bad = (
            "j.job",
            "[b00t.container]\nimage = \"x\"\n[b00t.resources]\nmemory = \"big\"\n",
        );
        check_error(
            read(&[bad], "j"),
            &["`[b00t.resources] memory`", "`big` is not a memory size"],
        );
    }

    #[test]
    fn the_corpus_postgres_datums_in_a_stack() {
        let (dir, _) = catalog(&[(
            "db.stack",
            "members = [\"postgres\", \"postgres-enhanced\"]\n[b00t.stack]\nnamespace = \"data\"\n",
        )]);
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/b00t-datums");
        for file in ["postgres.docker.toml", "postgres-enhanced.docker.toml"] {
            std::fs::copy(corpus.join(file), dir.path().join(file)).unwrap();
        }
        let catalog = Catalog::load(&[dir.path().to_owned()]);
        let intent = Intent::from_catalog(&catalog, "db", &Vars::default()).unwrap();
        assert_eq!(intent.project, "data");
        assert_eq!(names(&intent), ["postgres", "postgres-enhanced"]);
        for postgres in &intent.workloads {
            assert_eq!(postgres.image, "postgres:16-alpine");
            assert_eq!(postgres.env["POSTGRES_PASSWORD"], "password");
            assert_eq!(postgres.env["POSTGRES_PORT"], "5432");
            assert_eq!(postgres.ports[0].host, Some(5432));
            assert_eq!(
                postgres.volumes,
                [Volume {
                    source: VolumeSource::Named("postgres_data".to_owned()),
                    target: "/var/lib/postgresql/data".to_owned(),
                    read_only: false,
                }]
            );
        }
    }

    #[test]
    fn the_starter_stack_of_this_repository() {
        let datums = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datums");
        let catalog = Catalog::load(&[datums]);
        let intent = Intent::from_catalog(&catalog, "starter", &Vars::default()).unwrap();
        assert_eq!(intent.project, "starter");
        assert_eq!(names(&intent), ["web", "starter-check"]);
        let web = intent.workload("web").unwrap();
        assert_eq!(web.ports[0].host, Some(18080));
        assert_eq!(web.env["GREETING"], "hello from b00t");
        assert_eq!(web.resources.memory, Some(64 << 20));
        assert!(web.local.as_ref().unwrap()[3].contains("${STACK:starter:web:port}"));
        let check = intent.workload("starter-check").unwrap();
        assert_eq!(check.resources.memory, Some(32 << 20));
        assert_eq!(check.env["GREETING"], "hello from b00t");
        assert_eq!(intent.notes, Vec::<String>::new());
    }

    #[test]
    fn a_docker_datum_deploys_alone() {
        let intent = read(&[WEB], "starter-web").unwrap();
        assert_eq!(intent.kind, IntentKind::Stack);
        assert_eq!(intent.project, "starter-web");
        assert_eq!(names(&intent), ["starter-web"]);
        assert!(intent.stacks.is_empty());
    }

    #[test]
    fn a_name_shared_by_a_stack_and_a_docker_datum_means_the_stack() {
        let stack = ("web.stack", "members = [\"web.docker\"]\n");
        let web = ("web.docker", "image = \"web:1\"\n");
        assert_eq!(
            read(&[stack, web], "web").unwrap().datum.as_str(),
            "web.stack"
        );
    }

    #[test]
    fn projects() {
        let x = ("x.docker", "image = \"x:1\"\n");
        let named = |table: &'static str| ("my_app.v2.stack", table);
        let project = |table| read(&[named(table), x], "my_app.v2").map(|i| i.project);
        assert_eq!(project("members = [\"x\"]\n").unwrap(), "my-app-v2");
        assert_eq!(
            project("members = [\"x\"]\n[b00t.stack]\nproject = \"shop\"\nnamespace = \"shop\"\n")
                .unwrap(),
            "shop"
        );
        check_error(
            read(
                &[
                    named("members = [\"x\"]\n[b00t.stack]\nproject = \"My_Shop\"\n"),
                    x,
                ],
                "my_app.v2",
            ),
            &["`[b00t.stack] project` is `My_Shop`, which is not a DNS label"],
        );
        check_error(
            read(
                &[
                    named("members = [\"x\"]\n[b00t.stack]\nproject = \"a\"\nnamespace = \"b\"\n"),
                    x,
                ],
                "my_app.v2",
            ),
            &["`[b00t.stack] project` is `a` but `namespace` is `b`"],
        );
        check_error(
            read(&[("g++.stack", "members = [\"x\"]\n"), x], "g++"),
            &["`g++` made from the datum's name"],
        );
    }

    #[test]
    fn compose_paths() {
        let (dir, _) = catalog(&[]);
        std::fs::create_dir(dir.path().join("compose")).unwrap();
        std::fs::write(dir.path().join("compose/web.yaml"), "services: {}\n").unwrap();
        let load = |path: &str| {
            let text = format!(
                "[b00t]\nname = \"c\"\ntype = \"stack\"\nhint = \"t\"\n[b00t.stack]\ncompose_path = \"{path}\"\n"
            );
            std::fs::write(dir.path().join("c.stack.toml"), text).unwrap();
            let catalog = Catalog::load(&[dir.path().to_owned()]);
            Intent::from_catalog(&catalog, "c", &Vars::default())
        };
        let intent = load("./compose/../compose/web.yaml").unwrap();
        assert_eq!(
            intent.compose_path,
            Some(std::fs::canonicalize(dir.path().join("compose/web.yaml")).unwrap())
        );
        assert!(intent.workloads.is_empty());
        check_error(load("../web.yaml"), &["leaves the catalog folder"]);
        check_error(load("/etc/passwd"), &["leaves the catalog folder"]);
        check_error(
            load("compose/missing.yaml"),
            &["is not a file", "missing.yaml does not exist"],
        );
    }

    #[test]
    fn duplicate_names_and_wait_cycles() {
        let a = ("a.docker", "image = \"a:1\"\n");
        let web = ("web.docker", "image = \"w:1\"\n");
        let stack = (
            "s.stack",
            "members = [\"a\", \"web\"]\n[b00t.services]\nweb = { member = \"a\" }\n",
        );
        check_error(
            read(&[a, web, stack], "s"),
            &["two workloads are called `web`: `a.docker` (stack `s`) and `web.docker` (stack `s`)"],
        );

        let waits = |other: &str| {
            format!("image = \"x:1\"\n[b00t.dependencies]\nwait_for_services = [\"{other}:80\"]\n")
        };
        let (p, q) = (waits("q"), waits("p"));
        let stack = ("s.stack", "members = [\"p\", \"q\"]\n");
        check_error(
            read(&[("p.docker", &p), ("q.docker", &q), stack], "s"),
            &["go round in a circle (p -> q -> p)"],
        );
    }

    #[test]
    fn notes_for_waits_without_a_health_check() {
        let web = (
            "web.docker",
            "image = \"w:1\"\ndocker_args = [\"--expose\", \"8080\"]\n",
        );
        let job = (
            "check.job",
            "[b00t.container]\nimage = \"x\"\n[b00t.dependencies]\nwait_for_services = [\"web:9090\"]\n",
        );
        let stack = (
            "s.stack",
            "members = [\"check\", \"web\"]\n[b00t.resources]\n",
        );
        let intent = read(&[web, job, stack], "s").unwrap();
        assert_eq!(
            intent.notes,
            [
                "job `check` waits for `web`, which has no health check: the orchestrators can \
                 only wait for its port",
                "job `check` waits for `web:9090`, but `web` declares no port 9090: add it to \
                 `[b00t.services]` or `-p`/`--expose`",
            ]
        );
    }

    #[test]
    fn job_restart_and_entrypoint_rules() {
        let job = (
            "j.job",
            "image = \"x\"\ndocker_args = [\"--restart\", \"always\"]\n",
        );
        check_error(read(&[job], "j"), &["is a job, which runs to completion"]);
        let job = (
            "j.job",
            "image = \"x\"\ndocker_args = [\"--restart\", \"on-failure:2\"]\n",
        );
        assert_eq!(
            read(&[job], "j").unwrap().workloads[0].restart,
            Restart::OnFailure(Some(2))
        );
        let both = (
            "w.docker",
            "image = \"x\"\ndocker_args = [\"--entrypoint\", \"/bin/sh\"]\n[b00t.container]\ncommand = [\"sh\"]\n",
        );
        check_error(read(&[both], "w"), &["both `--entrypoint`", "keep one"]);
        let entry = ("w.docker", "image = \"x\"\ndocker_args = [\"--entrypoint\", \"/bin/sh\", \"--read-only\", \"-h\", \"box\"]\n");
        let w = &read(&[entry], "w").unwrap().workloads[0];
        assert_eq!(w.command, ["/bin/sh"]);
        assert!(w.read_only);
        assert_eq!(w.hostname.as_deref(), Some("box"));
        check_error(read(&[("n.job", "")], "n"), &["has no image"]);
    }
}
