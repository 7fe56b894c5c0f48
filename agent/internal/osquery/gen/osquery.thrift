// The osquery extension API, transcribed from osquery's own
// osquery/extensions/thrift/osquery.thrift (identical in osquery-go). Names,
// field ids and types must stay exactly as upstream: they are the wire format
// real osqueryd speaks. Regenerate with `go generate` (see doc.go).

namespace go gen

/// A registry call's request and response: osquery's PluginRequest/Response.
typedef map<string, string> ExtensionPluginRequest
typedef list<map<string, string>> ExtensionPluginResponse

/// One osqueryd flag as returned by ExtensionManager.options.
struct InternalOptionInfo {
  1:string value,
  2:string default_value,
  3:string type,
}

typedef map<string, InternalOptionInfo> InternalOptionList

/// Extension metadata sent at registration and listed by extensions().
struct InternalExtensionInfo {
  1:string name,
  2:string version,
  3:string sdk_version,
  4:string min_sdk_version,
}

/// Route id the core assigns to an extension (0 is the core itself).
typedef i64 ExtensionRouteUUID
/// Plugin name to its route rows (for tables: the column definitions).
typedef map<string, ExtensionPluginResponse> ExtensionRouteTable
/// Registry name (table, config, logger, distributed) to its plugins.
typedef map<string, ExtensionRouteTable> ExtensionRegistry
typedef map<ExtensionRouteUUID, InternalExtensionInfo> InternalExtensionList

enum ExtensionCode {
  EXT_SUCCESS = 0,
  EXT_FAILED = 1,
  EXT_FATAL = 2,
}

struct ExtensionStatus {
  1:i32 code,
  2:string message,
  3:ExtensionRouteUUID uuid,
}

struct ExtensionResponse {
  1:ExtensionStatus status,
  2:ExtensionPluginResponse response,
}

/// Declared upstream but thrown by no method; kept so the IDL stays identical.
exception ExtensionException {
  1:i32 code,
  2:string message,
  3:ExtensionRouteUUID uuid,
}

service Extension {
  ExtensionStatus ping(),
  ExtensionResponse call(
    1:string registry,
    2:string item,
    3:ExtensionPluginRequest request),
  void shutdown(),
}

service ExtensionManager extends Extension {
  InternalExtensionList extensions(),
  InternalOptionList options(),
  ExtensionStatus registerExtension(
    1:InternalExtensionInfo info,
    2:ExtensionRegistry registry),
  ExtensionStatus deregisterExtension(
    1:ExtensionRouteUUID uuid),
  ExtensionResponse query(
    1:string sql),
  ExtensionResponse getQueryColumns(
    1:string sql),
}
