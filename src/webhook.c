/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  Module entry point: _PG_init sets up each part of the extension.
 *
 * The library must be in shared_preload_libraries.  Loading it defines the
 * settings (guc.c), reserves shared memory (launcher/registry.c), installs
 * the outbox writer's executor hook (capture/outbox.c), registers the
 * launcher that starts one delivery worker per database
 * (launcher/launcher.c) and installs the utility hook
 * (launcher/utility.c).  The tree below is laid out by concern:
 *
 *	capture/	the trigger: decide, build the payload, write the outbox
 *	delivery/	the worker: claim, send, record, clean up; its policies
 *	launcher/	the launcher, the utility hook, shared memory, wake-ups
 *	common/		pure C with no server calls: signing, retry classes,
 *				the network guard, URL and header checks
 *
 * IDENTIFICATION
 *	  src/webhook.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "capture/outbox.h"
#include "guc.h"
#include "launcher/launcher.h"
#include "launcher/registry.h"
#include "launcher/utility.h"
#include "observe/stats.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Module load.  Refuses to load other than from shared_preload_libraries,
 * where the worker and shared memory can be set up, and does nothing at all
 * during a binary upgrade, so that pg_upgrade can load the library freely.
 */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webhook must be loaded via \"shared_preload_libraries\""),
				 errhint("Add \"webhook\" to \"shared_preload_libraries\" with ALTER SYSTEM SET shared_preload_libraries = 'webhook' (keeping any libraries already listed), then restart the server.")));

	wh_stats_init();
	wh_guc_define();
	wh_registry_init();
	wh_outbox_init();
	wh_launcher_init();
	wh_utility_init();
}
