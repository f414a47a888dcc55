// libpq (Debian's libpq-dev). PG_DIAG_SQLSTATE is a character macro, which Swift imports
// unreliably; this inline function returns it.
#ifndef ATELIER_CPOSTGRESQL_SHIM_H
#define ATELIER_CPOSTGRESQL_SHIM_H
#include <libpq-fe.h>

static inline int atelier_pg_diag_sqlstate(void) { return PG_DIAG_SQLSTATE; }
static inline int atelier_pg_diag_message_primary(void) { return PG_DIAG_MESSAGE_PRIMARY; }
#endif
