//! Losing a pod or a node costs no service: every Deployment runs two or more pods, at most
//! one of them may be disrupted at a time, and the scheduler keeps them on different nodes
//! whenever it can.

use crate::{deployment, labels_match, manifests, pod_labels, SERVICES};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[test]
fn every_service_runs_two_pods_on_different_nodes_when_it_can() {
    let m = manifests();
    for s in SERVICES {
        let d = deployment(&m, s);
        let spec = d.spec.as_ref().unwrap();
        let labels = pod_labels(d);
        assert!(
            spec.replicas.unwrap_or(1) >= 2,
            "{s}: fewer than two replicas"
        );
        let hpa = m
            .hpas
            .iter()
            .find(|h| h.spec.as_ref().unwrap().scale_target_ref.name == s)
            .unwrap_or_else(|| panic!("{s}: no HPA"));
        assert!(
            hpa.spec.as_ref().unwrap().min_replicas.unwrap_or(1) >= 2,
            "{s}: the HPA may scale below two pods"
        );
        let pdb = m
            .pdbs
            .iter()
            .find(|p| {
                let sel = p.spec.as_ref().unwrap().selector.as_ref().unwrap();
                labels_match(sel.match_labels.as_ref().unwrap(), &labels)
            })
            .unwrap_or_else(|| panic!("{s}: no PodDisruptionBudget"));
        let budget = pdb.spec.as_ref().unwrap();
        assert!(
            budget.max_unavailable == Some(IntOrString::Int(1))
                || matches!(budget.min_available, Some(IntOrString::Int(n)) if n >= 1),
            "{s}: the PodDisruptionBudget must keep a pod up: {budget:?}"
        );
        let anti = spec
            .template
            .spec
            .as_ref()
            .unwrap()
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .unwrap_or_else(|| panic!("{s}: no pod anti-affinity"));
        // Required would leave pods unschedulable on a one-node cluster and block a rolling
        // update's surge pod when there are as many nodes as replicas.
        assert!(
            anti.required_during_scheduling_ignored_during_execution
                .as_ref()
                .is_none_or(Vec::is_empty),
            "{s}: anti-affinity must be preferred, not required"
        );
        let spreads = anti
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .any(|t| {
                let term = &t.pod_affinity_term;
                t.weight == 100
                    && term.topology_key == "kubernetes.io/hostname"
                    && term.namespace_selector.is_none()
                    && term
                        .label_selector
                        .as_ref()
                        .and_then(|l| l.match_labels.as_ref())
                        .is_some_and(|sel| labels_match(sel, &labels))
            });
        assert!(
            spreads,
            "{s}: no preferred anti-affinity (weight 100, per node) against its own pods: {anti:?}"
        );
    }
}
