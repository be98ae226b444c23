/* version.h - release and protocol versions reported by server.version. */
#ifndef NOORMME_VERSION_H
#define NOORMME_VERSION_H

#define NOORMME_VERSION "0.1.0"
/* The wire protocol version is PROTO_VERSION in protocol/proto_rpc.h. */

#endif
