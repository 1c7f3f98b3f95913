// Tests of the server's parts that need no model: the request gate (workers, a bounded queue, a deadline)
// and the least-recently-used cache of parsed images.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "serve/lru_cache.h"
#include "serve/request_gate.h"

namespace vqa::serve {
namespace {

using std::chrono::milliseconds;

TEST(RequestGate, AdmitsWorkersQueuesThenRefuses) {
  RequestGate gate(1, 1, milliseconds(5000));
  auto first = gate.enter();
  ASSERT_TRUE(first);
  EXPECT_EQ(gate.active(), 1);
  // A second request waits for the worker; a third finds the queue full and is refused at once.
  auto second = std::async(std::launch::async, [&] { return gate.enter().has_value(); });
  while (gate.waiting() < 1) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_FALSE(gate.enter());
  first.reset();  // the worker frees up: the waiting request goes in
  EXPECT_TRUE(second.get());
  EXPECT_EQ(gate.active(), 0);
  EXPECT_EQ(gate.waiting(), 0);
}

TEST(RequestGate, WaitingRequestGivesUpAtTheDeadline) {
  RequestGate gate(1, 4, milliseconds(50));
  auto held = gate.enter();
  ASSERT_TRUE(held);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(gate.enter());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50));
  EXPECT_EQ(gate.waiting(), 0);
}

TEST(LruCache, ForgetsTheLeastRecentlyUsedEntry) {
  LruCache<int> cache(2);
  cache.insert("a", std::make_shared<int>(1));
  cache.insert("b", std::make_shared<int>(2));
  auto a = cache.find("a");  // "a" is now the most recent
  ASSERT_TRUE(a);
  cache.insert("c", std::make_shared<int>(3));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.find("b"));
  EXPECT_EQ(*cache.find("a"), 1);
  EXPECT_EQ(*cache.find("c"), 3);
  cache.insert("a", std::make_shared<int>(4));  // replacing keeps the size
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(*cache.find("a"), 4);
  EXPECT_EQ(*a, 1);  // a value handed out outlives its replacement
}

}  // namespace
}  // namespace vqa::serve
