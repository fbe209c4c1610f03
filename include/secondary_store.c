/*
 * The sorcery wizard that serves the derived secondary endpoints, auths and AORs.
 *
 * Asterisk's "memory" wizard keeps objects in a hash table of 53 buckets, so with 10,000
 * secondaries every lookup of one (each REGISTER, INVITE or qualify of a secondary device) compares
 * about 190 ids, growing with the size of the PBX. This store keeps them in a red-black tree ordered
 * by id: a lookup costs O(log n) and no memory is spent on empty buckets. Only this module writes
 * into it (the mapping is read-only for everyone else).
 */
#include <asterisk.h>
#include <asterisk/module.h>
#include <asterisk/astobj2.h>
#include <asterisk/sorcery.h>
#include <asterisk/strings.h>
#include <regex.h>
#include "shim.h"

/* The last byte of every id ever stored (a bit per byte value; bits are only ever set). Most
 * lookups that reach this store are misses of other objects: res_pjsip's endpoint identifier asks
 * for "<user>@<domain>" before "<user>" at every request, and the configuration's own wizard,
 * asked first, does not have it. An id whose last byte no secondary ends with is answered without
 * touching the tree (a lookup costs a lock and a walk of cold nodes). */
static unsigned long long last_bytes_seen[4];

static void note_id(const char *id)
{
	unsigned char last = id && *id ? (unsigned char) id[strlen(id) - 1] : 0;

	__atomic_fetch_or(&last_bytes_seen[last / 64], 1ULL << (last % 64), __ATOMIC_RELEASE);
}

static int may_hold(const char *id)
{
	unsigned char last = id && *id ? (unsigned char) id[strlen(id) - 1] : 0;

	return (__atomic_load_n(&last_bytes_seen[last / 64], __ATOMIC_ACQUIRE) >> (last % 64)) & 1;
}

/* The id an ao2 search argument stands for: a key string or another object. */
static const char *search_id(const void *arg, int flags)
{
	switch (flags & OBJ_SEARCH_MASK) {
	case OBJ_SEARCH_KEY:
	case OBJ_SEARCH_PARTIAL_KEY:
		return arg;
	default:
		return ast_sorcery_object_get_id(arg);
	}
}

static int store_sort(const void *left, const void *right, int flags)
{
	const char *id = ast_sorcery_object_get_id(left);
	const char *other = search_id(right, flags);

	if ((flags & OBJ_SEARCH_MASK) == OBJ_SEARCH_PARTIAL_KEY) {
		return strncmp(id, other, strlen(other));
	}
	return strcmp(id, other);
}

static void *store_open(const char *data)
{
	return ao2_container_alloc_rbtree(AO2_ALLOC_OPT_LOCK_RWLOCK, AO2_CONTAINER_ALLOC_OPT_DUPS_REJECT,
		store_sort, NULL);
}

static void store_close(void *data)
{
	ao2_cleanup(data);
}

static int store_create(const struct ast_sorcery *sorcery, void *data, void *object)
{
	/* DUPS_REJECT makes the link fail when the id is taken. */
	note_id(ast_sorcery_object_get_id(object));
	return ao2_link(data, object) ? 0 : -1;
}

static int store_update(const struct ast_sorcery *sorcery, void *data, void *object)
{
	void *previous;
	int res = -1;

	note_id(ast_sorcery_object_get_id(object));
	ao2_wrlock(data);
	previous = ao2_find(data, ast_sorcery_object_get_id(object), OBJ_SEARCH_KEY | OBJ_UNLINK | OBJ_NOLOCK);
	if (previous) {
		res = ao2_link_flags(data, object, OBJ_NOLOCK) ? 0 : -1;
		ao2_ref(previous, -1);
	}
	ao2_unlock(data);
	return res;
}

static int store_delete(const struct ast_sorcery *sorcery, void *data, void *object)
{
	void *removed = ao2_find(data, ast_sorcery_object_get_id(object), OBJ_SEARCH_KEY | OBJ_UNLINK);

	if (!removed) {
		return -1;
	}
	ao2_ref(removed, -1);
	return 0;
}

static void *store_retrieve_id(const struct ast_sorcery *sorcery, void *data, const char *type, const char *id)
{
	return may_hold(id) ? ao2_find(data, id, OBJ_SEARCH_KEY) : NULL;
}

/* What a walk over the store collects: objects whose id matches `regex`, or whose fields include
 * every one of `fields` (all objects when neither is given). Walks go from the highest id down:
 * sorcery collects results in a list it keeps sorted by id, inserting from the front, so
 * descending order makes each insertion O(1) instead of a walk over all collected so far. */
struct store_walk {
	const struct ast_sorcery *sorcery;
	const struct ast_variable *fields;
	regex_t *regex;
	/* Where matches go; NULL: stop at the first match and return it. */
	struct ao2_container *found;
};

static int store_walk_match(void *object, void *arg, int flags)
{
	struct store_walk *walk = arg;
	int matches = 1;

	if (walk->regex) {
		matches = !regexec(walk->regex, ast_sorcery_object_get_id(object), 0, NULL, 0);
	} else if (walk->fields) {
		struct ast_variable *fields = ast_sorcery_objectset_create(walk->sorcery, object);

		matches = fields && ast_variable_lists_match(fields, walk->fields, 0);
		ast_variables_destroy(fields);
	}
	if (!matches) {
		return 0;
	}
	if (!walk->found) {
		return CMP_MATCH | CMP_STOP;
	}
	ao2_link(walk->found, object);
	return 0;
}

static void *store_retrieve_fields(const struct ast_sorcery *sorcery, void *data, const char *type,
	const struct ast_variable *fields)
{
	struct store_walk walk = { .sorcery = sorcery, .fields = fields };

	/* A lookup by fields needs at least one field. */
	return fields ? ao2_callback(data, 0, store_walk_match, &walk) : NULL;
}

static void store_retrieve_multiple(const struct ast_sorcery *sorcery, void *data, const char *type,
	struct ao2_container *objects, const struct ast_variable *fields)
{
	struct store_walk walk = { .sorcery = sorcery, .fields = fields, .found = objects };

	ao2_callback(data, OBJ_NODATA | OBJ_ORDER_DESCENDING, store_walk_match, &walk);
}

static void store_retrieve_regex(const struct ast_sorcery *sorcery, void *data, const char *type,
	struct ao2_container *objects, const char *regex)
{
	regex_t compiled;
	struct store_walk walk = { .sorcery = sorcery, .regex = &compiled, .found = objects };

	if (regcomp(&compiled, ast_strlen_zero(regex) ? "." : regex, REG_EXTENDED | REG_NOSUB)) {
		return;
	}
	ao2_callback(data, OBJ_NODATA | OBJ_ORDER_DESCENDING, store_walk_match, &walk);
	regfree(&compiled);
}

static void store_retrieve_prefix(const struct ast_sorcery *sorcery, void *data, const char *type,
	struct ao2_container *objects, const char *prefix, const size_t prefix_len)
{
	char key[prefix_len + 1];
	struct ao2_iterator *matches;
	void *object;

	/* The tree is ordered by id, so a partial-key search visits only the matching range. */
	ast_copy_string(key, prefix, sizeof(key));
	matches = ao2_find(data, key, OBJ_SEARCH_PARTIAL_KEY | OBJ_MULTIPLE | OBJ_ORDER_DESCENDING);
	if (!matches) {
		return;
	}
	while ((object = ao2_iterator_next(matches))) {
		ao2_link(objects, object);
		ao2_ref(object, -1);
	}
	ao2_iterator_destroy(matches);
}

static const struct ast_sorcery_wizard secondary_store = {
	.name = MULTIREG_SECONDARY_WIZARD,
	.open = store_open,
	.close = store_close,
	.create = store_create,
	.update = store_update,
	.delete = store_delete,
	.retrieve_id = store_retrieve_id,
	.retrieve_fields = store_retrieve_fields,
	.retrieve_multiple = store_retrieve_multiple,
	.retrieve_regex = store_retrieve_regex,
	.retrieve_prefix = store_retrieve_prefix,
};

int multireg_shim_store_register(void)
{
	/* No module reference: a mapping would otherwise hold this module in use and refuse
	 * `module unload`; the unload removes every mapping before unregistering the wizard. */
	return __ast_sorcery_wizard_register(&secondary_store, NULL);
}

void multireg_shim_store_unregister(void)
{
	ast_sorcery_wizard_unregister(&secondary_store);
}
