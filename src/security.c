/*-------------------------------------------------------------------------
 *
 * security.c
 *	  Hardening shared by the background workers.
 *
 * Owns: the search_path of our background workers.  They connect as the
 * bootstrap superuser and run SQL strings through SPI; those strings
 * schema-qualify our objects and pg_catalog's functions, but operators and
 * casts are still looked up on search_path.  A database-level setting
 * (ALTER DATABASE ... SET search_path, which a database owner may issue)
 * would otherwise let a non-superuser put a schema with look-alike
 * operators in front of pg_catalog and run code as superuser.
 *
 * SQL-callable entry points that run SPI get the same protection from the
 * extension script (ALTER FUNCTION ... SET search_path, privileges
 * section); hot paths such as record() build no SQL from names.
 *
 * Must never: build SQL from user input, or widen anyone's privileges.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "security.h"

/*
 * Pin search_path to pg_catalog, pg_temp for the rest of this worker's life,
 * over any database or role setting.  Call right after
 * BackgroundWorkerInitializeConnection*().
 */
void
security_pin_worker_search_path(void)
{
	SetConfigOption("search_path", SECURITY_SEARCH_PATH, PGC_SUSET,
					PGC_S_OVERRIDE);
}
