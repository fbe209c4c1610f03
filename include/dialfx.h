/* C helpers for the dial-time call features (All Reject Mode, staggered ring, call flip).
 * Kept apart from shim.h so each feature set stays in its own file. */
#ifndef MULTIREG_DIALFX_H
#define MULTIREG_DIALFX_H

#include <stddef.h>

struct ast_channel;

/* Dialplan applications of this file; each dispatches to multireg_app_execute(index, ...). */
enum multireg_dialfx_app {
	MULTIREG_APP_MULTIREGFLIP = 20,
	MULTIREG_APP_MULTIREGDELAYEDRING = 21,
};

/* The context Local channels of a staggered ring run in, created at load with this module as
 * registrar and removed at unload. Its one extension pattern runs MultiregDelayedRing(${EXTEN}). */
#define MULTIREG_DELAYED_RING_CONTEXT "multireg-delayed-ring"

/* Registers MultiregFlip and MultiregDelayedRing, the context and the subscription to dial
 * messages; all or nothing. */
int multireg_shim_dialfx_register(void);
void multireg_shim_dialfx_unregister(void);

/* The SIP status of the last response of outbound channel peer_name, as the calling channel
 * recorded it (HANGUPCAUSE), or 0 when unknown. */
int multireg_shim_dialfx_dialed_sip_code(const char *caller_uniqueid, const char *peer_name);
/* Ends a channel that is still ringing, with hangup cause USER_BUSY; 1 if it was asked to. */
int multireg_shim_dialfx_hangup_busy(const char *uniqueid);
/* The channel's unique id into buf. */
void multireg_shim_dialfx_uniqueid(struct ast_channel *chan, char *buf, size_t len);
/* A channel variable into buf (empty when unset). */
void multireg_shim_dialfx_getvar(struct ast_channel *chan, const char *name, char *buf, size_t len);
/* Indicates ringing to the caller; waits ms milliseconds, 0 or -1 when the channel hung up. */
int multireg_shim_dialfx_ring_and_wait(struct ast_channel *chan, int ms);
/* Channels whose name starts with prefix that are answered and in a bridge with another
 * channel: "name\n" each, oldest first as Asterisk lists them; free with multireg_shim_dialfx_free. */
char *multireg_shim_dialfx_bridged_channels(const char *prefix);
void multireg_shim_dialfx_free(void *pointer);
/* chan answers and takes old_name's place in its bridge; old_name's channel leaves and hangs up.
 * Returns when chan leaves the bridge: 0; -1 when old_name is no longer in a bridge. */
int multireg_shim_dialfx_take_over(struct ast_channel *chan, const char *old_name);

#endif
