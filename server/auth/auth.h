/* auth.h - the auth.* handlers (one file per Auth.js model) and the purge
 * that server.purge and its timer run. Each mirrors its method's name:
 * cmd_session_get_and_user <-> auth.getSessionAndUser. */
#ifndef NOORMME_AUTH_H
#define NOORMME_AUTH_H

#include "cmd.h"

int cmd_admin_purge(cmd_ctx_t *ctx);
int cmd_user_create(cmd_ctx_t *ctx);
int cmd_user_get(cmd_ctx_t *ctx);
int cmd_user_get_by_email(cmd_ctx_t *ctx);
int cmd_user_get_by_account(cmd_ctx_t *ctx);
int cmd_user_update(cmd_ctx_t *ctx);
int cmd_user_delete(cmd_ctx_t *ctx);
int cmd_account_link(cmd_ctx_t *ctx);
int cmd_account_unlink(cmd_ctx_t *ctx);
int cmd_account_get(cmd_ctx_t *ctx);
int cmd_account_update(cmd_ctx_t *ctx);
int cmd_session_create(cmd_ctx_t *ctx);
int cmd_session_get_and_user(cmd_ctx_t *ctx);
int cmd_session_update(cmd_ctx_t *ctx);
int cmd_session_delete(cmd_ctx_t *ctx);
int cmd_session_list(cmd_ctx_t *ctx);
int cmd_session_delete_by_id(cmd_ctx_t *ctx);
int cmd_session_delete_all(cmd_ctx_t *ctx);
int cmd_vtoken_create(cmd_ctx_t *ctx);
int cmd_vtoken_use(cmd_ctx_t *ctx);
int cmd_authenticator_create(cmd_ctx_t *ctx);
int cmd_authenticator_get(cmd_ctx_t *ctx);
int cmd_authenticator_list(cmd_ctx_t *ctx);
int cmd_authenticator_update_counter(cmd_ctx_t *ctx);

#endif
