/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* STUB: replaced by the health helper. */
#include <errno.h>
#include <string.h>
#include "agent-state.h"
void agent_state_init(AgentState *s) { memset(s, 0, sizeof *s); }
void agent_state_done(AgentState *s) { (void) s; }
void agent_action_done(AgentAction *a) { (void) a; }
int agent_state_load(const char *dir, AgentState *ret) { (void) dir; agent_state_init(ret); return 0; }
int agent_state_save(const char *dir, const AgentState *s) { (void) dir; (void) s; return -EOPNOTSUPP; }
char *agent_state_to_json(const AgentState *s) { (void) s; return NULL; }
int agent_state_archive_action(AgentState *s) { (void) s; return 0; }
int agent_state_give_up(AgentState *s, const char *v) { (void) s; (void) v; return 0; }
bool agent_state_failed(const AgentState *s, const char *v) { (void) s; (void) v; return false; }
