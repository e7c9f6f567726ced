// Package grafana holds lsrflow's Grafana dashboard and provisioning files (no Go code); its
// test checks that the dashboard is valid JSON and that every metric its queries use is a
// documented lsrflow metric (deploy/README.md).
package grafana
