#include <gtest/gtest.h>

#include <set>

#include "core/errors.h"
#include "runpod/job_input.h"

using nlohmann::json;
using sdxlw::GenerationRequest;
using sdxlw::InvalidRequest;
using sdxlw::JobValidationContext;

namespace {

JobValidationContext context() {
  JobValidationContext c;
  c.known_loras = {{"lora_a", 1.0}, {"Detail Tweaker XL", 1.5}};
  c.random_seed = [] { return uint64_t{777}; };
  return c;
}

GenerationRequest parse(const json& input) { return sdxlw::parse_job_input(input, context()); }

// The InvalidRequest message for `input`, or "" when it is valid.
std::string problems(const json& input) {
  try {
    parse(input);
  } catch (const InvalidRequest& e) {
    return e.what();
  }
  return "";
}

const std::string kAccepted =
    "(accepted: prompt, negative_prompt, width, height, num_inference_steps, guidance_scale, "
    "scheduler, seed, num_images, loras)";

}  // namespace

TEST(JobInput, PromptAloneGetsEveryDefault) {
  auto r = parse({{"prompt", "a cat"}});
  EXPECT_EQ(r.prompt, "a cat");
  EXPECT_EQ(r.negative_prompt, "");
  EXPECT_EQ(r.width, 1024);
  EXPECT_EQ(r.height, 1024);
  EXPECT_EQ(r.steps, 30);
  EXPECT_DOUBLE_EQ(r.guidance_scale, 7.0);
  EXPECT_EQ(r.scheduler, "euler");
  EXPECT_EQ(r.seed, 777u);  // from the context's seed source
  EXPECT_EQ(r.num_images, 1);
  EXPECT_FALSE(r.loras.has_value());
}

TEST(JobInput, EveryFieldIsTakenAsGiven) {
  auto r = parse({{"prompt", "p"},
                  {"negative_prompt", "n"},
                  {"width", 832},
                  {"height", 1216},
                  {"num_inference_steps", 25},
                  {"guidance_scale", 6.5},
                  {"scheduler", "dpmpp_2m_karras"},
                  {"seed", 42},
                  {"num_images", 2},
                  {"loras", {{{"name", "lora_a"}, {"scale", 0.8}}}}});
  EXPECT_EQ(r.negative_prompt, "n");
  EXPECT_EQ(r.width, 832);
  EXPECT_EQ(r.height, 1216);
  EXPECT_EQ(r.steps, 25);
  EXPECT_DOUBLE_EQ(r.guidance_scale, 6.5);
  EXPECT_EQ(r.scheduler, "dpmpp_2m_karras");
  EXPECT_EQ(r.seed, 42u);
  EXPECT_EQ(r.num_images, 2);
  ASSERT_TRUE(r.loras.has_value());
  ASSERT_EQ(r.loras->size(), 1u);
  EXPECT_EQ((*r.loras)[0].name, "lora_a");
  EXPECT_DOUBLE_EQ((*r.loras)[0].scale, 0.8);
}

TEST(JobInput, NullForAnOptionalFieldMeansItsDefault) {
  auto r = parse({{"prompt", "p"}, {"negative_prompt", nullptr}, {"width", nullptr},
                  {"scheduler", nullptr}, {"loras", nullptr}, {"seed", nullptr}});
  EXPECT_EQ(r.negative_prompt, "");
  EXPECT_EQ(r.width, 1024);
  EXPECT_EQ(r.scheduler, "euler");
  EXPECT_FALSE(r.loras.has_value());
  EXPECT_EQ(r.seed, 777u);
}

TEST(JobInput, MissingPromptIsRequired) {
  EXPECT_EQ(problems({{"width", 512}}), "invalid input: prompt is required");
  EXPECT_EQ(problems({{"prompt", ""}}), "invalid input: prompt must not be empty");
}

TEST(JobInput, Width1000IsNotAMultipleOf64) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"width", 1000}}),
            "invalid input: width must be a multiple of 64 (got 1000)");
  EXPECT_EQ(problems({{"prompt", "p"}, {"height", 4096}}),
            "invalid input: height must be between 64 and 2048 (got 4096)");
  EXPECT_EQ(problems({{"prompt", "p"}, {"width", 0}}),
            "invalid input: width must be between 64 and 2048 (got 0)");
}

TEST(JobInput, StepsZeroIsOutOfRange) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"num_inference_steps", 0}}),
            "invalid input: num_inference_steps must be between 1 and 150 (got 0)");
  EXPECT_EQ(problems({{"prompt", "p"}, {"num_inference_steps", 151}}),
            "invalid input: num_inference_steps must be between 1 and 150 (got 151)");
  EXPECT_EQ(parse({{"prompt", "p"}, {"num_inference_steps", 150}}).steps, 150);
}

TEST(JobInput, UnknownSchedulerListsTheAcceptedNames) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"scheduler", "eulr"}}),
            "invalid input: scheduler \"eulr\" is unknown (known: euler, euler_a, dpmpp_2m, "
            "dpmpp_2m_karras, ddim)");
}

TEST(JobInput, SchedulerAliasesBecomeCanonicalNames) {
  EXPECT_EQ(parse({{"prompt", "p"}, {"scheduler", "K_EULER_ANCESTRAL"}}).scheduler, "euler_a");
  EXPECT_EQ(parse({{"prompt", "p"}, {"scheduler", "DPM++ 2M Karras"}}).scheduler, "dpmpp_2m_karras");
  EXPECT_EQ(parse({{"prompt", "p"}, {"scheduler", "DDIM"}}).scheduler, "ddim");
}

TEST(JobInput, NineImagesAreTooMany) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"num_images", 9}}),
            "invalid input: num_images must be between 1 and 8 (got 9)");
}

TEST(JobInput, StringWhereANumberBelongsIsNamed) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"width", "1024"}}),
            "invalid input: width must be an integer, not a string (got \"1024\")");
  EXPECT_EQ(problems({{"prompt", "p"}, {"guidance_scale", "7"}}),
            "invalid input: guidance_scale must be a number, not a string (got \"7\")");
  EXPECT_EQ(problems({{"prompt", 5}}), "invalid input: prompt must be a string, not a number (got 5)");
}

TEST(JobInput, BooleansAreNotNumbers) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"num_images", true}}),
            "invalid input: num_images must be an integer, not a boolean (got true)");
  EXPECT_EQ(problems({{"prompt", "p"}, {"guidance_scale", false}}),
            "invalid input: guidance_scale must be a number, not a boolean (got false)");
}

TEST(JobInput, IntegralFloatsCountAsIntegers) {
  auto r = parse(json::parse(R"({"prompt": "p", "width": 1024.0, "seed": 5.0, "num_images": 2.0})"));
  EXPECT_EQ(r.width, 1024);
  EXPECT_EQ(r.seed, 5u);
  EXPECT_EQ(r.num_images, 2);
  EXPECT_EQ(problems(json::parse(R"({"prompt": "p", "width": 1024.5})")),
            "invalid input: width must be an integer (got 1024.5)");
}

TEST(JobInput, UnknownFieldsAreNamedWithTheAcceptedOnes) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"strength", 0.3}}),
            "invalid input: unknown field \"strength\" " + kAccepted);
  EXPECT_EQ(problems({{"prompt", "p"}, {"strength", 0.3}, {"image_url", "x"}}),
            "invalid input: unknown fields \"image_url\", \"strength\" " + kAccepted);
}

TEST(JobInput, HundredThousandCharacterPromptIsRejectedBriefly) {
  std::string message = problems({{"prompt", std::string(100000, 'a')}});
  EXPECT_EQ(message, "invalid input: prompt is too long: 100000 characters (at most 10000)");
}

TEST(JobInput, PromptLengthCountsCharactersNotBytes) {
  std::string e_acute = "\xC3\xA9";  // é: 2 bytes, 1 character
  std::string at_limit;
  for (int i = 0; i < 10000; ++i) at_limit += e_acute;
  EXPECT_EQ(parse({{"prompt", at_limit}}).prompt.size(), 20000u);
  EXPECT_EQ(problems({{"prompt", "p"}, {"negative_prompt", at_limit + "x"}}),
            "invalid input: negative_prompt is too long: 10001 characters (at most 10000)");
}

TEST(JobInput, InputThatIsNotAnObjectIsRejected) {
  EXPECT_EQ(problems("a cat"), "invalid input: input must be a JSON object, not a string");
  EXPECT_EQ(problems(json::array({1, 2})), "invalid input: input must be a JSON object, not an array");
  EXPECT_EQ(problems(nullptr), "invalid input: input must be a JSON object, not null");
}

TEST(JobInput, EveryProblemIsReportedAtOnce) {
  EXPECT_EQ(problems({{"width", 1000},
                      {"num_inference_steps", 0},
                      {"scheduler", "eulr"},
                      {"num_images", 9},
                      {"guidance_scale", 31},
                      {"strength", 0.3}}),
            "invalid input: prompt is required; width must be a multiple of 64 (got 1000); "
            "num_inference_steps must be between 1 and 150 (got 0); guidance_scale must be between "
            "0 and 30 (got 31); scheduler \"eulr\" is unknown (known: euler, euler_a, dpmpp_2m, "
            "dpmpp_2m_karras, ddim); num_images must be between 1 and 8 (got 9); unknown field "
            "\"strength\" " + kAccepted);
}

TEST(JobInput, GuidanceScaleBoundsAreInclusive) {
  EXPECT_DOUBLE_EQ(parse({{"prompt", "p"}, {"guidance_scale", 0}}).guidance_scale, 0.0);
  EXPECT_DOUBLE_EQ(parse({{"prompt", "p"}, {"guidance_scale", 30}}).guidance_scale, 30.0);
  EXPECT_EQ(problems({{"prompt", "p"}, {"guidance_scale", -0.5}}),
            "invalid input: guidance_scale must be between 0 and 30 (got -0.5)");
}

TEST(JobInput, SeedNullOrMinusOneIsRandomAndOtherNegativesAreErrors) {
  EXPECT_EQ(parse({{"prompt", "p"}, {"seed", -1}}).seed, 777u);
  EXPECT_EQ(parse({{"prompt", "p"}, {"seed", nullptr}}).seed, 777u);
  std::string range = "seed must be between 0 and 9223372036854775807, or -1 or null for a random seed";
  EXPECT_EQ(problems({{"prompt", "p"}, {"seed", -5}}), "invalid input: " + range + " (got -5)");
  EXPECT_EQ(problems({{"prompt", "p"}, {"seed", uint64_t{9223372036854775808ull}}}),
            "invalid input: " + range + " (got 9223372036854775808)");
  EXPECT_EQ(parse({{"prompt", "p"}, {"seed", int64_t{9223372036854775807ll}}}).seed,
            9223372036854775807ull);
  EXPECT_EQ(problems({{"prompt", "p"}, {"seed", "42"}}),
            "invalid input: seed must be an integer, not a string (got \"42\")");
}

TEST(JobInput, RandomSeedsStayBelowTwoToThe53) {
  JobValidationContext c;  // no seed source: the built-in one
  std::set<uint64_t> seen;
  for (int i = 0; i < 200; ++i) {
    uint64_t seed = sdxlw::parse_job_input(json{{"prompt", "p"}}, c).seed;
    EXPECT_LT(seed, uint64_t{1} << 53);
    seen.insert(seed);
  }
  EXPECT_GT(seen.size(), 190u);
}

TEST(JobInput, LorasNameModelsJsonEntriesAndDefaultTheirScale) {
  auto r = parse({{"prompt", "p"},
                  {"loras", {{{"name", "detail tweaker xl"}}, {{"name", "lora_a"}, {"scale", -1}}}}});
  ASSERT_TRUE(r.loras.has_value());
  ASSERT_EQ(r.loras->size(), 2u);
  EXPECT_EQ((*r.loras)[0].name, "Detail Tweaker XL");  // matched case-insensitively
  EXPECT_DOUBLE_EQ((*r.loras)[0].scale, 1.5);           // models.json default
  EXPECT_DOUBLE_EQ((*r.loras)[1].scale, -1.0);
  auto none = parse({{"prompt", "p"}, {"loras", json::array()}});
  ASSERT_TRUE(none.loras.has_value());
  EXPECT_TRUE(none.loras->empty());
}

TEST(JobInput, BadLorasAreEachNamed) {
  EXPECT_EQ(problems({{"prompt", "p"}, {"loras", "lora_a"}}),
            "invalid input: loras must be an array of {\"name\", \"scale\"} objects, not a string "
            "(got \"lora_a\")");
  EXPECT_EQ(problems({{"prompt", "p"},
                      {"loras",
                       {{{"name", "nope"}},
                        "x",
                        {{"name", "Detail Tweaker XL"}, {"scale", 20}},
                        {{"name", "lora_a"}, {"weight", 1}},
                        {{"scale", 1}},
                        {{"name", "LORA_A"}}}}}),
            "invalid input: loras[0].name \"nope\" is unknown (known: \"lora_a\", \"Detail Tweaker "
            "XL\"); loras[1] must be an object with \"name\" and optional \"scale\", not a string "
            "(got \"x\"); loras[2].scale must be between -10 and 10 (got 20); loras[3] has unknown "
            "field \"weight\" (accepted: name, scale); loras[4].name is required; loras[5] repeats "
            "\"lora_a\"");
}

TEST(JobInput, LoraNamesAreUnknownWhenModelsJsonListsNone) {
  JobValidationContext c;
  c.random_seed = [] { return uint64_t{1}; };
  try {
    sdxlw::parse_job_input(json{{"prompt", "p"}, {"loras", {{{"name", "x"}}}}}, c);
    FAIL() << "accepted an unknown LoRA";
  } catch (const InvalidRequest& e) {
    EXPECT_STREQ(e.what(), "invalid input: loras[0].name \"x\" is unknown (models.json lists no LoRAs)");
  }
}

TEST(JobInput, LongValuesAreShortenedInMessages) {
  std::string message = problems({{"prompt", "p"}, {"scheduler", std::string(5000, 'z')}});
  EXPECT_LT(message.size(), 200u);
  EXPECT_NE(message.find("zzz...\" is unknown"), std::string::npos);
}
