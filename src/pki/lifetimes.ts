/**
 * How long the cluster's certificates live and when they are replaced: the CA's (made by the
 * operator, ca.ts) and the nodes' (renewed by the agents, enroll.ts). A module of its own so that
 * the agent's side reads them without loading the CA's X.509 library.
 */

/** CA lifetime (OpenShift: 10 years) and node certificate lifetime (5 years). */
export const CA_YEARS = 10;
export const NODE_CERT_YEARS = 5;
/** A CA is replaced at 9 years, leaving a year of overlap for the rollover. */
export const CA_RENEW_AFTER_YEARS = 9;
/** A node renews when less than this many months remain (after 4.5 of 5 years). */
export const NODE_RENEW_MONTHS_LEFT = 6;
