/* C helpers the Rust side calls: what Asterisk only offers as macros or static structures. */
#ifndef MULTIREG_SHIM_H
#define MULTIREG_SHIM_H

#include <pjsip.h>

/* Severity for multireg_shim_log; mapped to Asterisk's __LOG_* levels in the shim. */
enum multireg_shim_severity {
	MULTIREG_SEVERITY_DEBUG = 0,
	MULTIREG_SEVERITY_NOTICE = 1,
	MULTIREG_SEVERITY_WARNING = 2,
	MULTIREG_SEVERITY_ERROR = 3,
	MULTIREG_SEVERITY_VERBOSE = 4,
};

/* Logs one already-formatted message; the text is never used as a format string. */
void multireg_shim_log(int severity, const char *file, int line, const char *function, const char *message);
/* Whether ast_debug(level, ...) would print for this module. */
int multireg_shim_debug_enabled(int level);

/* The PJSIP service that sees each authenticated REGISTER just before the registrar. */
int multireg_shim_register_service(void);
void multireg_shim_unregister_service(void);

#endif
