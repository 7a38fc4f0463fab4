//! A deterministic, sans-IO model of a microk8s cluster with a virtual-time driver.
