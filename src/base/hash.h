/*
 * hash.h - FNV-1a hashing and one open-addressing index over ids (hash.c).
 *
 * The index stores (hash, id) pairs only; the entries live in the caller's
 * own array, and the caller's eq callback compares entry id with a key.  So
 * growing the index never touches the entries, and one index type serves
 * every table (strings, locations, functions, samples).  Normal code only.
 */
#ifndef GRT_BASE_HASH_H
#define GRT_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_INIT 0xcbf29ce484222325ull

/* FNV-1a over len bytes, continued from h (start with HASH_FNV_INIT). */
static inline uint64_t hash_fnv(uint64_t h, const void *p, size_t len) {
  const unsigned char *b = p;
  for (size_t i = 0; i < len; i++)
    h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* Folds a 64-bit hash into 32 bits, mixing the high half in. */
static inline uint32_t hash_fold(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return (uint32_t)h;
}

struct hash_slot {
  uint32_t hash;
  uint32_t id1; /* entry id + 1; 0 marks an empty slot */
};

struct hash_index {
  struct hash_slot *slots;
  size_t cap, n; /* cap is 0 or a power of two, at most half full */
};

/* Compares entry id of the caller's array with key. */
typedef int (*hash_eq)(const void *ctx, uint32_t id, const void *key);

/* Looks key (with hash) up.  Returns its id, or -1. */
int64_t hash_find(const struct hash_index *ix, uint32_t hash, hash_eq eq, const void *ctx,
                  const void *key);

/* Makes room for one more entry, so that the hash_put after the caller has
 * stored its entry cannot fail.  0 or -ENOMEM. */
int hash_reserve(struct hash_index *ix);

/* Adds id under hash (after hash_reserve). */
void hash_put(struct hash_index *ix, uint32_t hash, uint32_t id);

void hash_free(struct hash_index *ix);

#endif
