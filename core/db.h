/*
 * db: the database's schema, as forward migrations per component ("history", "gov", ...).  Each
 * component's applied version is kept in schema_migrations; at start-up the missing migrations run
 * in order, each in its own transaction, before any worker starts.  A database that a newer
 * Gantry has migrated further than this binary knows is refused rather than misread.
 */
#ifndef GANTRY_DB_H
#define GANTRY_DB_H

#include <sqlite3.h>
#include <stddef.h>

/* Run on the connection store_open() made; 0, or -1 with a message in err. */
int db_migrate(sqlite3 *db, char *err, size_t errlen);

#endif
