/*
 * hash.c - the open-addressing index of hash.h (linear probing, at most
 * half full, so a probe always ends at an empty slot).
 */
#include "base/hash.h"

#include <errno.h>
#include <stdlib.h>

int64_t hash_find(const struct hash_index *ix, uint32_t hash, hash_eq eq, const void *ctx,
                  const void *key) {
  if (!ix->cap) return -1;
  for (size_t i = hash & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
    const struct hash_slot *sl = &ix->slots[i];
    if (!sl->id1) return -1;
    if (sl->hash == hash && eq(ctx, sl->id1 - 1, key)) return sl->id1 - 1;
  }
}

void hash_put(struct hash_index *ix, uint32_t hash, uint32_t id) {
  size_t i = hash & (ix->cap - 1);
  while (ix->slots[i].id1)
    i = (i + 1) & (ix->cap - 1);
  ix->slots[i] = (struct hash_slot){hash, id + 1};
  ix->n++;
}

int hash_reserve(struct hash_index *ix) {
  if ((ix->n + 1) * 2 <= ix->cap) return 0;
  size_t ncap = ix->cap ? ix->cap * 2 : 64;
  struct hash_slot *old = ix->slots;
  size_t ocap = ix->cap;
  ix->slots = calloc(ncap, sizeof *ix->slots);
  if (!ix->slots) {
    ix->slots = old;
    return -ENOMEM;
  }
  ix->cap = ncap;
  ix->n = 0;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].id1) hash_put(ix, old[i].hash, old[i].id1 - 1);
  free(old);
  return 0;
}

void hash_free(struct hash_index *ix) {
  free(ix->slots);
  ix->slots = NULL;
  ix->cap = ix->n = 0;
}
