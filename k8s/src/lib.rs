//! Loads the Kubernetes manifests of `k8s/` into typed `k8s-openapi` structs. The checks
//! are in `tests/manifests.rs` (`cargo test -p k8s-manifests`).

use anyhow::{anyhow, bail, Context, Result};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use regex_lite::Regex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every document of every manifest, typed.
#[derive(Default, Debug)]
pub struct Manifests {
    pub files: Vec<PathBuf>,
    pub namespaces: Vec<Namespace>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub pdbs: Vec<PodDisruptionBudget>,
    pub ingresses: Vec<Ingress>,
    pub network_policies: Vec<NetworkPolicy>,
}

/// The folder of this crate, which is also the manifests' folder.
pub fn k8s_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    k8s_dir().parent().expect("k8s/ has a parent").to_path_buf()
}

fn typed<T: DeserializeOwned + Serialize>(doc: serde_yaml::Value, what: &str) -> Result<T> {
    let parsed: T = serde_yaml::from_value(doc.clone())
        .with_context(|| format!("{what} does not parse as its typed struct"))?;
    // The typed structs ignore fields they do not know: a misspelt or misplaced field would
    // vanish silently. Whatever the document says must survive the round trip.
    let back = serde_yaml::to_value(&parsed).with_context(|| format!("{what}: serialize"))?;
    if let Some(path) = first_lost(&doc, &back, "") {
        bail!("{what}: field {path} is not part of the typed struct (misspelt or misplaced?)");
    }
    Ok(parsed)
}

/// The first key path of `orig` that `back` lacks (scalars were type-checked by the parse).
fn first_lost(orig: &serde_yaml::Value, back: &serde_yaml::Value, path: &str) -> Option<String> {
    use serde_yaml::Value;
    match (orig, back) {
        (Value::Mapping(o), Value::Mapping(b)) => o.iter().find_map(|(k, v)| {
            let key = k.as_str().map_or_else(|| format!("{k:?}"), str::to_string);
            let here = format!("{path}.{key}");
            match b.get(k) {
                None if v.is_null() => None,
                None => Some(here),
                Some(bv) => first_lost(v, bv, &here),
            }
        }),
        (Value::Sequence(o), Value::Sequence(b)) if o.len() == b.len() => o
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (ov, bv))| first_lost(ov, bv, &format!("{path}[{i}]"))),
        (Value::Sequence(_), _) | (Value::Mapping(_), _) => Some(path.to_string()),
        _ => None,
    }
}

/// Reads every `*.yaml` of `dir` except `kustomization.yaml`. Fails on any document that is
/// not one of the expected kinds, does not parse, or holds a field its typed struct lacks.
pub fn load(dir: &Path) -> Result<Manifests> {
    let mut m = Manifests::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc = serde_yaml::Value::deserialize(de)
                .with_context(|| format!("{}: document {i} is not YAML", file.display()))?;
            if doc.is_null() {
                continue;
            }
            let kind = doc
                .get("kind")
                .and_then(|k| k.as_str())
                .ok_or_else(|| anyhow!("{}: document {i} has no kind", file.display()))?
                .to_string();
            let api = doc
                .get("apiVersion")
                .and_then(|k| k.as_str())
                .unwrap_or_default()
                .to_string();
            let what = format!("{}: document {i} ({api} {kind})", file.display());
            match (api.as_str(), kind.as_str()) {
                ("v1", "Namespace") => m.namespaces.push(typed(doc, &what)?),
                ("v1", "ConfigMap") => m.config_maps.push(typed(doc, &what)?),
                ("v1", "Secret") => m.secrets.push(typed(doc, &what)?),
                ("v1", "Service") => m.services.push(typed(doc, &what)?),
                ("apps/v1", "Deployment") => m.deployments.push(typed(doc, &what)?),
                ("autoscaling/v2", "HorizontalPodAutoscaler") => m.hpas.push(typed(doc, &what)?),
                ("policy/v1", "PodDisruptionBudget") => m.pdbs.push(typed(doc, &what)?),
                ("networking.k8s.io/v1", "Ingress") => m.ingresses.push(typed(doc, &what)?),
                ("networking.k8s.io/v1", "NetworkPolicy") => {
                    m.network_policies.push(typed(doc, &what)?)
                }
                _ => bail!("{what}: unexpected apiVersion/kind"),
            }
        }
    }
    m.files = files;
    Ok(m)
}

/// CPU quantity in millicores: "250m" -> 250, "1" -> 1000, "1.5" -> 1500.
pub fn millicores(q: &str) -> Result<u64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().with_context(|| format!("cpu quantity {q:?}"));
    }
    let v: f64 = q.parse().with_context(|| format!("cpu quantity {q:?}"))?;
    Ok((v * 1000.0).round() as u64)
}

/// The port of an address like `0.0.0.0:8080`.
pub fn port_of(addr: &str) -> Result<i32> {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| anyhow!("no port in {addr:?}"))
}

/// Every `.rs` file under `dir`, recursively, sorted.
pub fn rust_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(rust_sources(&path)?);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Environment variable names a set of Rust sources reads (before any `#[cfg(test)]`): a
/// literal passed to `var_or`, `var_required`, `ms`, `std::env::var`, `var_os` or
/// `EnvFilter::try_from_env`, and every literal of a list of names that is iterated into
/// `std::env::var` (`["A", "B"].iter().filter_map(|n| std::env::var(n).ok())`).
pub fn env_vars_read(sources: &[PathBuf]) -> Result<Vec<String>> {
    let call = Regex::new(
        r#"(?:\bvar_or|\bvar_required(?:::<[^>]*>)?|\bms|env::var|env::var_os|\btry_from_env)\(\s*"([A-Z][A-Z0-9_]*)""#,
    )?;
    let list = Regex::new(
        r#"\[((?:\s*"[A-Z][A-Z0-9_]*"\s*,)*\s*"[A-Z][A-Z0-9_]*"\s*,?\s*)\]\s*\.(?:into_)?iter\(\)[\s\S]{0,200}?env::var"#,
    )?;
    let name = Regex::new(r#""([A-Z][A-Z0-9_]*)""#)?;
    let mut names: Vec<String> = Vec::new();
    for file in sources {
        let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let found = call.captures_iter(text).map(|c| c[1].to_string()).chain(
            list.captures_iter(text).flat_map(|c| {
                name.captures_iter(&c[1])
                    .map(|n| n[1].to_string())
                    .collect::<Vec<_>>()
            }),
        );
        for n in found {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;

    const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: x
          image: x:1
          PROBE: {httpGet: {path: /health/ready, port: 8080}}
";

    fn deployment(probe_field: &str) -> Result<Deployment> {
        let doc = serde_yaml::from_str(&DEPLOYMENT.replace("PROBE", probe_field)).unwrap();
        typed(doc, "test")
    }

    #[test]
    fn a_known_field_parses() {
        let d = deployment("readinessProbe").unwrap();
        let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
        assert!(c.readiness_probe.is_some());
    }

    #[test]
    fn a_misspelt_field_is_an_error_not_silence() {
        let err = deployment("readinesProbe").unwrap_err().to_string();
        assert!(
            err.contains(".spec.template.spec.containers[0].readinesProbe"),
            "{err}"
        );
    }

    #[test]
    fn cpu_quantities_in_millicores() {
        assert_eq!(millicores("250m").unwrap(), 250);
        assert_eq!(millicores("1").unwrap(), 1000);
        assert_eq!(millicores("1.5").unwrap(), 1500);
        assert!(millicores("lots").is_err());
    }

    #[test]
    fn the_scanner_finds_every_way_a_variable_is_read() {
        let dir = std::env::temp_dir().join(format!("k8s-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.rs");
        std::fs::write(
            &file,
            r#"
            let a = var_or("A_ADDR", 1)?;
            let b = var_required::<String>("B_URL")?;
            let c = ms("C_MS", 5)?;
            let d = std::env::var("D_FORMAT");
            let e = EnvFilter::try_from_env("E_FILTER");
            let f = ["F_ONE", "F_TWO"].iter().filter_map(|n| std::env::var(n).ok());
            redis::cmd("HSET"); let g = ["NOT", "NAMES"];
            #[cfg(test)]
            let h = var_or("H_TEST_ONLY", 1);
            "#,
        )
        .unwrap();
        let names = env_vars_read(&[file]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            names,
            ["A_ADDR", "B_URL", "C_MS", "D_FORMAT", "E_FILTER", "F_ONE", "F_TWO"]
        );
    }
}
