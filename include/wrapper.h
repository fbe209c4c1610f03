/* Everything bindgen reads: the Asterisk and PJSIP APIs the module calls, plus the shim's own
 * helpers. AST_MODULE_SELF_SYM and AST_MODULE come from build.rs. */
#include <asterisk.h>
#include <asterisk/module.h>
#include <asterisk/logger.h>
#include <asterisk/astobj2.h>
#include <asterisk/sorcery.h>
#include <asterisk/astdb.h>
#include <asterisk/pbx.h>
#include <asterisk/app.h>
#include <asterisk/channel.h>
#include <asterisk/cli.h>
#include <asterisk/manager.h>
#include <asterisk/strings.h>
#include <asterisk/security_events.h>
#include <asterisk/file.h>
#include <asterisk/config.h>
#include <asterisk/devicestate.h>
#include <asterisk/res_pjsip.h>
#include "shim.h"
#include "dialfx.h"
#include "sorcery_types.h"
