#include "runpod/local_api.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "runpod/job_output.h"
#include "runpod/protocol.h"
#include "runpod/runpod_env.h"

namespace sdxlw {
namespace {

using nlohmann::json;

struct ApiJob {
  std::string id;
  json job;                      // {"id", "input"}
  std::string status = "IN_QUEUE";  // IN_QUEUE IN_PROGRESS COMPLETED FAILED
  json output;                   // the handler's output once finished
  std::optional<StepProgress> progress;
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

std::string lower_ascii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "application/json; charset=utf-8" → "application/json".
std::string media_type(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }),
          t.end());
  return lower_ascii(t);
}

// nlohmann's parse error without its "[json.exception.parse_error.101] " prefix.
std::string parse_error_text(const std::string& what) {
  auto pos = what.find("] ");
  return pos == std::string::npos ? what : what.substr(pos + 2);
}

}  // namespace

struct LocalApi::Impl {
  JobHandler& handler;
  LocalApiOptions options;
  httplib::Server server;
  std::thread listener;
  std::thread worker;

  std::mutex mutex;
  std::condition_variable cv;  // queue changes and finished jobs
  std::deque<std::shared_ptr<ApiJob>> queue;
  std::unordered_map<std::string, std::shared_ptr<ApiJob>> jobs;
  std::deque<std::string> finished;  // oldest first, trimmed to kept_results
  std::shared_ptr<ApiJob> running;
  size_t completed = 0, failed = 0;
  bool started = false;
  bool stopping = false;
  bool stopped = false;

  Impl(JobHandler& h, LocalApiOptions o) : handler(h), options(std::move(o)) {}

  void routes() {
    server.set_payload_max_length(options.max_body_bytes);
    server.set_keep_alive_timeout(1);  // idle keep-alive connections must not delay stop()
    server.Post("/runsync", [this](const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader) {
      submit(req, res, reader, true);
    });
    server.Post("/run", [this](const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader& reader) {
      submit(req, res, reader, false);
    });
    auto status = [this](const httplib::Request& req, httplib::Response& res) {
      job_status(req.matches[1].str(), res);
    };
    server.Get(R"(/status/([^/]+))", status);
    server.Post(R"(/status/([^/]+))", status);
    server.Get("/health", [this](const httplib::Request&, httplib::Response& res) { health(res); });
    for (const char* path : {"/run", "/runsync"}) {
      server.Get(path, [](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Allow", "POST");
        send_error(res, 405, req.path + " takes POST with a JSON body {\"input\": {...}}");
      });
    }
    server.Post("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "GET");
      send_error(res, 405, "/health takes GET");
    });
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message;
      if (res.status == 404) {
        message = "no route " + req.method + " " + req.path +
                  " (routes: POST /run, POST /runsync, GET|POST /status/{id}, GET /health)";
      } else if (res.status == 413) {
        message = "request body too large";
      } else {
        message = std::string("bad request (HTTP ") + std::to_string(res.status) + ")";
      }
      send_error(res, res.status, message);
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown exception";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("local api: {} {}: {}", req.method, req.path, what);
          send_error(res, 500, "internal error: " + what);
        });
  }

  void submit(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader, bool wait) {
    std::string body;
    bool too_large = false;
    reader([&](const char* data, size_t n) {
      if (body.size() + n > options.max_body_bytes) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (too_large) return send_error(res, 413, "request body too large");

    std::string type = req.get_header_value("Content-Type");
    if (media_type(type) != "application/json")
      return send_error(res, 400,
                        "Content-Type must be application/json (got " +
                            (type.empty() ? std::string("none") : "\"" + type + "\"") + ")");
    json request;
    try {
      request = json::parse(body);
    } catch (const json::exception& e) {
      return send_error(res, 400, "request body is not valid JSON: " + parse_error_text(e.what()));
    }
    if (!request.is_object())
      return send_error(res, 400, "request body must be a JSON object like {\"input\": {...}}");
    auto input = request.find("input");
    if (input == request.end() || input->is_null())
      return send_error(res, 400, "request body has no \"input\": expected {\"input\": {...}}");
    for (const auto& [key, value] : request.items())
      if (key != "input") spdlog::warn("local api: ignoring request field \"{}\"", key);

    auto job = std::make_shared<ApiJob>();
    job->id = "test-" + random_uuid();
    job->job = {{"id", job->id}, {"input", *input}};
    std::unique_lock<std::mutex> lock(mutex);
    if (stopping) return send_error(res, 503, "the worker is shutting down");
    if (!wait && queue.size() >= options.max_queued)
      return send_error(res, 429,
                        "the queue is full (" + std::to_string(options.max_queued) + " jobs waiting)");
    queue.push_back(job);
    jobs[job->id] = job;
    cv.notify_all();
    if (!wait) {
      spdlog::info("local api: job {} queued", job->id);
      lock.unlock();
      return send_json(res, 200, {{"id", job->id}, {"status", "IN_QUEUE"}});
    }
    cv.wait(lock, [&] { return job->status == "COMPLETED" || job->status == "FAILED"; });
    send_json(res, 200, describe(*job));
  }

  // The /status answer for a job; called with `mutex` held.
  static json describe(const ApiJob& job) {
    json out = {{"id", job.id}, {"status", job.status}};
    if (job.status == "COMPLETED") {
      out["output"] = job.output;
    } else if (job.status == "FAILED") {
      out["error"] = error_message(job.output);
    } else if (job.status == "IN_PROGRESS" && job.progress) {
      out["output"] = progress_body(*job.progress)["output"];
    }
    return out;
  }

  void job_status(const std::string& id, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = jobs.find(id);
    if (it == jobs.end())
      return send_json(res, 404, {{"id", id}, {"status", "FAILED"}, {"error", "Job ID not found"}});
    send_json(res, 200, describe(*it->second));
  }

  void health(httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mutex);
    send_json(res, 200,
              {{"ready", !stopping && !handler.engine_unusable()},
               {"jobs",
                {{"completed", completed},
                 {"failed", failed},
                 {"inProgress", running ? 1 : 0},
                 {"inQueue", queue.size()}}}});
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      cv.wait(lock, [this] { return stopping || !queue.empty(); });
      if (queue.empty()) return;
      auto job = queue.front();
      queue.pop_front();
      job->status = "IN_PROGRESS";
      running = job;
      lock.unlock();

      json output = handler.handle(job->job, [this, job](const StepProgress& p) {
        std::lock_guard<std::mutex> progress_lock(mutex);
        job->progress = p;
      });

      lock.lock();
      running.reset();
      finish(*job, std::move(output));
    }
  }

  // Called with `mutex` held.
  void finish(ApiJob& job, json output) {
    bool error = is_error_output(output);
    job.status = error ? "FAILED" : "COMPLETED";
    job.output = std::move(output);
    job.progress.reset();
    ++(error ? failed : completed);
    finished.push_back(job.id);
    while (finished.size() > options.kept_results) {
      jobs.erase(finished.front());
      finished.pop_front();
    }
    cv.notify_all();
  }
};

LocalApi::LocalApi(JobHandler& handler, LocalApiOptions options)
    : impl_(std::make_unique<Impl>(handler, std::move(options))) {}

LocalApi::~LocalApi() { stop(); }

int LocalApi::start() {
  Impl& s = *impl_;
  if (s.started) throw std::logic_error("local api: started twice");
  s.routes();
  int port = s.options.port;
  if (port == 0) {
    port = s.server.bind_to_any_port(s.options.host);
    if (port < 0) throw std::runtime_error("local api: cannot listen on " + s.options.host);
  } else if (!s.server.bind_to_port(s.options.host, port)) {
    throw std::runtime_error("local api: cannot listen on " + s.options.host + ":" +
                             std::to_string(port) + " (address in use or not local?)");
  }
  s.started = true;
  s.worker = std::thread([&s] { s.work(); });
  s.listener = std::thread([&s] { s.server.listen_after_bind(); });
  // stop() only interrupts a server that already runs its accept loop.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!s.server.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port;
}

void LocalApi::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.started || s.stopped) return;
    s.stopped = true;
    s.stopping = true;
    while (!s.queue.empty()) {
      auto job = s.queue.front();
      s.queue.pop_front();
      s.finish(*job, error_output("the worker shut down before running this job"));
    }
    s.cv.notify_all();
  }
  s.worker.join();  // after the running job
  s.server.stop();
  s.listener.join();
}

int run_local_api(JobHandler& handler, const LocalApiOptions& options, const std::atomic<bool>& stop) {
  LocalApi api(handler, options);
  int port = 0;
  try {
    port = api.start();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  spdlog::info("local api: serving on http://{}:{} (POST /runsync, POST /run, GET /status/{{id}}, "
               "GET /health)",
               options.host, port);
  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  spdlog::info("local api: stop requested; finishing the running job");
  api.stop();
  return 0;
}

}  // namespace sdxlw
