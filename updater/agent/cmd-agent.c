/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "agent-loop.h"
#include "cmd-agent.h"
#include "config.h"
#include "log.h"
#include "signature.h"

/* osupdate agent [--once] [--dry-run] [--json] */
int cmd_agent(const CliArgs *c) {
        _cleanup_(config_done) Config cfg = {};
        _cleanup_(keyring_done) Keyring keyring = {};
        AgentOptions o = {
                .dry_run = cli_flag(c, CLI_DRY_RUN),
                .json = cli_flag(c, CLI_JSON),
                .quiet = cli_quiet(c),
        };
        int r;

        if (o.json && !o.dry_run && !cli_flag(c, CLI_ONCE))
                return cli_usage_error(c, "--json goes with --once or --dry-run");
        r = config_load(cli_value(c, CLI_CONFIG), &cfg);
        if (r < 0)
                return r;
        r = config_load_keyring(&cfg, cli_value(c, CLI_KEYS), &keyring);
        if (r < 0)
                return r;
        if (o.dry_run || cli_flag(c, CLI_ONCE))
                return agent_poll(&cfg, &keyring, &o, NULL);
        return agent_daemon(&cfg, &keyring, &o);
}
