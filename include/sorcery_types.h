/* The module's own sorcery object types on res_pjsip's sorcery instance (include/sorcery_types.c):
 *   multireg           policies; default mapping pjsip.conf,criteria=type=multireg
 *   multireg_ringmode  stored ring modes; default mapping astdb (family multireg/multireg_ringmode)
 *   multireg_push      RFC 8599 push bindings; default mapping astdb (family multireg/multireg_push)
 *   multireg_logout    logged-out devices; default mapping astdb (family multireg/multireg_logout)
 * sorcery.conf section [res_pjsip_multireg] may map either type elsewhere (realtime, ...).
 * Every field is accepted and kept as text on the object; the Rust side validates. */
#ifndef MULTIREG_SORCERY_TYPES_H
#define MULTIREG_SORCERY_TYPES_H

struct ao2_container;

/* All or nothing: registers every type, applies sorcery.conf and the defaults, loads them. */
int multireg_shim_register_sorcery_types(void);
void multireg_shim_unregister_sorcery_types(void);
/* Every object of a type (a container to iterate), or NULL. */
struct ao2_container *multireg_shim_sorcery_all(const char *type);
/* The objects of a type whose field `field` is `value` (one query on a realtime store), or NULL. */
struct ao2_container *multireg_shim_sorcery_find(const char *type, const char *field, const char *value);
/* Deletes one object of a type; 0 also when it did not exist. */
int multireg_shim_sorcery_delete(const char *type, const char *id);
/* Creates or updates one object of a type from name/value pairs. 0 on success. */
int multireg_shim_sorcery_put(const char *type, const char *id, const char *const *names, const char *const *values, int count);
/* 1 when every wizard mapped to the type keeps its objects on this node only (config, memory,
 * memory_cache, astdb); 0 when one of them is shared (realtime, ...) or on error. */
int multireg_shim_sorcery_is_local(const char *type);

#endif
