#pragma once
// One GET for a model URL with redirects followed by hand, so that each hop decides on its own
// whether it carries "Authorization: Bearer $CIVITAI_API_KEY": only the first request, and only
// when its host is in CIVITAI_HOSTS. A host reached through a redirect (a pre-signed storage URL)
// never gets the key. Also: which answers are worth a retry, and the messages for the rest.

#include <optional>
#include <string>

#include "net/http_client.h"
#include "net/url.h"
#include "store/model_store.h"

namespace sdxlw {

// What is being fetched, for messages: `label` like `checkpoint "Jib Mix"`, plus the URL.
struct ModelSource {
  Url url;
  std::string label;
  std::optional<std::string> version_id;  // when the URL has Civitai's download form

  // `model version 1590699` or the redacted URL.
  std::string what() const;
};

struct HopResult {
  HttpResponse response;  // of the last request made
  Url url;                // the URL that answered
  int hop = 0;            // 0: the models.json URL itself; > 0: reached by a redirect
  bool key_sent = false;  // the answering request carried the key
};

inline constexpr int kMaxRedirects = 10;

// GET `start`, following up to kMaxRedirects 301/302/303/307/308 answers. `request` supplies
// timeouts and extra headers; its url and Authorization are set per hop. The body of a 2xx
// answer goes to `sink` (after `on_start`), of anything else to HopResult::response.body.
// Throws std::runtime_error on a redirect without a usable Location or too many redirects.
HopResult get_following_redirects(HttpClient& client, const ModelSource& source, const HttpRequest& request,
                                  const StoreOptions& options, const BodySink& sink = {},
                                  const ResponseStartHook& on_start = {});

// 408, 425, 429 and 5xx: the server may answer differently later.
bool is_retryable_status(long status);

// The back-off before attempt `failures + 1`: retry_initial_delay_s * 2^(failures-1), capped.
double retry_delay_s(int failures, const StoreOptions& options);

// The readable error for a final (non-retryable) HTTP answer: 401/403 tell how to set
// CIVITAI_API_KEY, 404 names the model version, others quote the status and a body excerpt.
std::string http_error_message(const HopResult& result, const ModelSource& source, const StoreOptions& options);

}  // namespace sdxlw
