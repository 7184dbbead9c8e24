/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STUB: replaced by the policy helper. */
#include <errno.h>
#include <string.h>
#include "agent.h"
double agent_bucket(const char *m, const char *c, const char *v) { (void) m; (void) c; (void) v; return 0; }
double rollout_reached(const Rollout *r, uint64_t now) { (void) r; (void) now; return 0; }
double agent_bucket_wary(double b, double w) { (void) w; return b; }
bool rollout_includes(double reached, double b) { return reached >= 100 || reached > b; }
int window_parse(const char *s, Window *ret) { (void) s; (void) ret; return -EINVAL; }
bool window_contains(const Window *w, size_t n, unsigned d, unsigned m) { (void) w; (void) n; (void) d; (void) m; return false; }
uint32_t window_next_open(const Window *w, size_t n, unsigned d, unsigned m) { (void) w; (void) n; (void) d; (void) m; return UINT32_MAX; }
const char *agent_strategy_to_string(AgentStrategy s) { (void) s; return NULL; }
AgentStrategy agent_strategy_from_string(const char *s) { (void) s; return _AGENT_STRATEGY_INVALID; }
const char *agent_phase_to_string(AgentPhase p) { (void) p; return NULL; }
AgentPhase agent_phase_from_string(const char *s) { (void) s; return _AGENT_PHASE_INVALID; }
const char *agent_result_to_string(AgentResult r) { (void) r; return NULL; }
AgentResult agent_result_from_string(const char *s) { (void) s; return _AGENT_RESULT_INVALID; }
const char *agent_step_to_string(AgentStep s) { (void) s; return NULL; }
void agent_plan(const AgentFacts *f, AgentPlan *ret) { (void) f; memset(ret, 0, sizeof *ret); }
