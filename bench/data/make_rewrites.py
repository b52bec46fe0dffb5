# ruff: noqa: E501  (prose of the labelled set: long string literals)
"""Build ``bench/data/rewrites.jsonl``: rewritten copies and hard negatives.

    python bench/data/make_rewrites.py   # rewrites bench/data/rewrites.jsonl

All prose below is original text written for this set (fictional details on
realistic events).  Each story has an original (``P``), a house rewrite of
every paragraph written by hand (``R``: about one word in seven to ten
changed outside direct quotes, quotes untouched), a new top paragraph for a
write-through (``TOP``), a local paragraph (``LOCAL``), a rival agency's own
report of the event that quotes the same official and repeats one to three
paragraphs verbatim (``RIVAL``), and a follow-up that repeats two background
paragraphs (``FOLLOW``).  Copies are assembled from these pieces by the
recipes in ``COPIES``; ``sweep`` is a house-style pass (U.S./US, numerals,
per cent, honorifics) applied to some of them.  Nothing here was derived
from the clustering code or tuned against it: the recipes were fixed before
the first run.

``part``: stories S17, S19, S21 and digest D4 are ``tune``; S18, S20, S22
and digests D5, D6 are ``heldout`` (never used to choose a rule or threshold).
"""

from __future__ import annotations

import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

STORIES = {
    "S17": {
        "date": "2024-05-06T07:40:00Z",
        "dateline": "SANTIAGO, May 6 (Reuters) -",
        "headline": "Landslide halts work at Chilean copper mine, two workers missing",
        "P": [
            "A landslide at the Cerro Blanco copper mine in northern Chile on Sunday buried part of an access "
            "road and left two contract workers missing, the state mining company Codemin said, halting "
            "operations at one of the country's largest open-pit sites.",
            "Rescue teams with sniffer dogs and heavy machinery were searching the area near the mine's eastern "
            "wall, where an estimated 40,000 cubic metres of rock and soil gave way shortly after 4 a.m. local "
            "time.",
            '"Our absolute priority is to find our two colleagues, and every resource we have is on the '
            'ground," Codemin chief executive Patricia Soler told reporters at the site.',
            "The mine, located about 120 kilometres east of Antofagasta, produced 312,000 tonnes of copper last "
            "year, roughly 6 percent of Chile's output.",
            "Mining Minister Diego Arancibia said the government had sent inspectors from the national "
            "geology and mining service to determine whether heavy rain in April had weakened the slope.",
            "Copper futures on the London Metal Exchange rose 1.2 percent in early trading on Monday, as "
            "traders weighed the risk of a lengthy stoppage at a time of tight global supply.",
            "Chile is the world's largest copper producer, and the metal accounts for about half of the "
            "country's exports.",
        ],
        "R": [
            "A landslide at Chile's Cerro Blanco copper mine on Sunday buried part of an access road and left "
            "two contract workers missing, state miner Codemin said, stopping operations at one of the "
            "nation's biggest open-pit sites.",
            "Rescuers with sniffer dogs and heavy equipment were combing the area near the mine's eastern wall, "
            "where some 40,000 cubic metres of rock and earth collapsed shortly after 4 a.m. local time.",
            '"Our absolute priority is to find our two colleagues, and every resource we have is on the '
            'ground," Codemin CEO Patricia Soler told journalists at the mine.',
            "The mine, situated about 120 kilometres east of Antofagasta, produced 312,000 tonnes of copper "
            "last year, around 6 percent of Chile's total output.",
            "Mining Minister Diego Arancibia said the government had dispatched inspectors from the national "
            "geology and mining service to establish whether heavy April rain had weakened the slope.",
            "Copper futures on the London Metal Exchange climbed 1.2 percent in early trade on Monday, as "
            "traders weighed the risk of a long stoppage at a time of tight world supply.",
            "Chile is the world's biggest copper producer, and the metal makes up about half of the country's "
            "exports.",
        ],
        "TOP": "Rescuers found one of the two contract workers alive on Monday morning, more than 24 hours "
        "after a landslide at the Cerro Blanco copper mine in northern Chile, Codemin said; the search for "
        "the second worker continued.",
        "LOCAL": "Canadian equipment maker Northline Drilling, which supplies haul trucks to Cerro Blanco, said "
        "none of its technicians in Chile had been hurt.",
        "RIVAL": [
            "SANTIAGO, May 6 (AFP) - Two workers were feared trapped on Sunday after tonnes of rock slid onto a "
            "road inside Cerro Blanco, a giant copper pit run by Chile's state-owned Codemin, officials said.",
            "The collapse happened before dawn on the eastern side of the pit, and firefighters from "
            "Antofagasta joined company rescuers in the search, according to regional emergency services.",
            '"Our absolute priority is to find our two colleagues, and every resource we have is on the '
            'ground," Codemin chief executive Patricia Soler told reporters at the site.',
            "Relatives of the missing men gathered at the gate of the mine through the day, and a union leader "
            "said workers had warned of cracks in the wall after last month's storms.",
            "Chile is the world's largest copper producer, and the metal accounts for about half of the "
            "country's exports.",
        ],
        "FOLLOW": [
            "SANTIAGO, May 9 (Reuters) - Chile's Codemin said on Thursday it would keep the Cerro Blanco copper "
            "mine closed for at least three weeks while engineers assess the stability of its eastern wall "
            "after Sunday's landslide.",
            "Both missing contract workers were recovered, one alive and one dead, the company said, and "
            "prosecutors in Antofagasta have opened an investigation into possible negligence.",
            "The mine, located about 120 kilometres east of Antofagasta, produced 312,000 tonnes of copper last "
            "year, roughly 6 percent of Chile's output.",
            "Analysts at a Santiago brokerage estimated the stoppage would cost about 18,000 tonnes of "
            "production and said Codemin could lower its annual guidance.",
            "Chile is the world's largest copper producer, and the metal accounts for about half of the "
            "country's exports.",
        ],
    },
    "S18": {
        "date": "2024-09-02T03:15:00Z",
        "dateline": "MANILA, Sept 2 (AP) —",
        "headline": "Philippines evacuates 80,000 as typhoon nears Luzon",
        "P": [
            "Authorities in the northern Philippines evacuated more than 80,000 people from coastal and "
            "low-lying villages on Monday as Typhoon Marites strengthened over the Philippine Sea and headed "
            "toward the main island of Luzon.",
            "The state weather bureau said the typhoon was packing sustained winds of 165 kilometers per hour "
            "and gusts of up to 205 kph, and was expected to make landfall in Isabela or Cagayan province late "
            "on Tuesday.",
            "\"We are not waiting for the water to reach people's doorsteps. If you are told to leave, please "
            'leave now," civil defense chief Raymundo Ferrer said at a news conference in Manila.',
            "Classes were suspended in 14 provinces and the coast guard barred fishing boats and ferries from "
            "leaving port, stranding more than 3,000 passengers at terminals across the region.",
            "The Department of Social Welfare said it had positioned 210,000 food packs in warehouses in the "
            "north, along with drinking water and hygiene kits.",
            "Forecasters warned of storm surges of up to three meters along the eastern seaboard and of "
            "landslides in the mountainous Cordillera region.",
            "About 20 typhoons and storms hit the Philippines each year, and the archipelago is regularly ranked "
            "among the countries most exposed to climate disasters.",
        ],
        "R": [
            "Authorities in the northern Philippines moved more than 80,000 people out of coastal and "
            "low-lying villages on Monday as Typhoon Marites gained strength over the Philippine Sea and headed "
            "for the main island of Luzon.",
            "The state weather agency said the typhoon had sustained winds of 165 kilometers per hour and gusts "
            "of up to 205 kph, and was forecast to make landfall in Isabela or Cagayan province late Tuesday.",
            "\"We are not waiting for the water to reach people's doorsteps. If you are told to leave, please "
            'leave now," civil defense chief Raymundo Ferrer told a news conference in Manila.',
            "Schools were closed in 14 provinces and the coast guard stopped fishing boats and ferries from "
            "leaving port, stranding over 3,000 passengers at terminals across the region.",
            "The social welfare department said it had stockpiled 210,000 food packs in warehouses in the north, "
            "as well as drinking water and hygiene kits.",
            "Forecasters warned of storm surges as high as three meters along the eastern coast and of "
            "landslides in the mountainous Cordillera region.",
            "Some 20 typhoons and storms strike the Philippines every year, and the archipelago is often ranked "
            "among the nations most exposed to climate disasters.",
        ],
        "TOP": "Typhoon Marites made landfall in Cagayan province early on Wednesday, toppling power lines and "
        "flooding towns along the coast, officials said, a day after more than 80,000 people were evacuated.",
        "LOCAL": "The Filipino community association in Honolulu said it would collect donations for affected "
        "families at its Kalihi center this weekend.",
        "RIVAL": [
            "MANILA, Sept 2 (Reuters) - The Philippines ordered tens of thousands of residents in the north of "
            "the country to flee on Monday ahead of a powerful typhoon, the second to threaten the region in a "
            "month.",
            "\"We are not waiting for the water to reach people's doorsteps. If you are told to leave, please "
            'leave now," civil defense chief Raymundo Ferrer said at a news conference in Manila.',
            "Rice farmers in the Cagayan Valley rushed to harvest what they could before the storm, the "
            "agriculture department said, estimating that 90,000 hectares of crops lay in its path.",
            "Airlines cancelled at least 40 domestic flights to northern airports, and the stock exchange said "
            "it would decide on Tuesday whether to suspend trading.",
            "About 20 typhoons and storms hit the Philippines each year, and the archipelago is regularly ranked "
            "among the countries most exposed to climate disasters.",
        ],
        "FOLLOW": [
            "MANILA, Sept 5 (AP) — The death toll from Typhoon Marites rose to 17 on Thursday as rescuers reached "
            "mountain villages cut off by landslides in the Cordillera region, officials said.",
            "The Department of Social Welfare said it had positioned 210,000 food packs in warehouses in the "
            "north, along with drinking water and hygiene kits.",
            "More than 1.2 million homes were still without electricity, and the national grid operator said "
            "full power might not be restored for a week.",
            "President Ferdinand Marcos Jr. flew over flooded towns in Cagayan and promised cash aid for farmers "
            "who lost their crops.",
            "About 20 typhoons and storms hit the Philippines each year, and the archipelago is regularly ranked "
            "among the countries most exposed to climate disasters.",
        ],
    },
    "S19": {
        "date": "2024-01-22T11:05:00Z",
        "dateline": "BERLIN, Jan 22 (dpa) -",
        "headline": "German train drivers announce six-day strike",
        "P": [
            "Germany's train drivers' union GDL called a six-day strike on passenger and freight services "
            "starting on Wednesday, the longest walkout in its dispute with national rail operator Deutsche "
            "Bahn over pay and working hours.",
            "Freight services will be hit from Tuesday evening and passenger trains from 2 a.m. on Wednesday, "
            "with the strike due to end on Monday evening, the union said.",
            '"The employer has left us no other choice. We have made offer after offer and got nothing back but '
            'delay," GDL leader Claus Weselsky told a news conference in Berlin.',
            "The union is demanding a cut in the working week for shift workers from 38 to 35 hours without a "
            "reduction in pay, which Deutsche Bahn says would require hiring thousands of extra staff it cannot "
            "find.",
            "Deutsche Bahn said it would run an emergency timetable with about a fifth of its usual long-distance "
            "trains and called the strike an attack on millions of commuters.",
            "Business groups warned that a week-long halt to rail freight could disrupt supply chains for the "
            "chemical and car industries, which rely on trains to move raw materials.",
            "It is the fourth strike by the GDL in the current round of talks, after shorter walkouts in "
            "November, December and early January.",
        ],
        "R": [
            "German train drivers' union GDL announced a six-day strike on passenger and freight services from "
            "Wednesday, the longest stoppage so far in its dispute with state railway Deutsche Bahn over wages "
            "and working hours.",
            "Freight trains will be affected from Tuesday evening and passenger services from 2 a.m. on "
            "Wednesday, with the strike set to finish on Monday evening, the union said.",
            '"The employer has left us no other choice. We have made offer after offer and got nothing back but '
            'delay," GDL chief Claus Weselsky told reporters in Berlin.',
            "The union wants the working week for shift workers cut from 38 to 35 hours with no loss of pay, "
            "which Deutsche Bahn says would require recruiting thousands of extra staff it cannot find.",
            "Deutsche Bahn said it would operate an emergency timetable with around a fifth of its normal "
            "long-distance trains and described the strike as an attack on millions of commuters.",
            "Industry groups warned that a week-long stop to rail freight could disrupt supply chains for the "
            "chemical and auto industries, which depend on trains to carry raw materials.",
            "It is the fourth strike by the GDL in the current round of negotiations, after shorter stoppages "
            "in November, December and early January.",
        ],
        "TOP": "Deutsche Bahn on Monday asked a labour court in Frankfurt to block the six-day strike called by "
        "train drivers' union GDL, arguing that the walkout was disproportionate.",
        "LOCAL": "In Saxony, the regional transport authority said it would add buses on the Leipzig-Chemnitz "
        "route for the duration of the strike.",
        "RIVAL": [
            "BERLIN, Jan 22 (Reuters) - Rail travel across Germany will grind to a near halt for almost a week "
            "from Wednesday after the GDL drivers' union called its longest strike yet, deepening a bitter "
            "standoff with Deutsche Bahn.",
            '"The employer has left us no other choice. We have made offer after offer and got nothing back but '
            'delay," GDL leader Claus Weselsky told a news conference in Berlin.',
            "The union is demanding a cut in the working week for shift workers from 38 to 35 hours without a "
            "reduction in pay, which Deutsche Bahn says would require hiring thousands of extra staff it cannot "
            "find.",
            "Economists at a Frankfurt bank estimated each strike day costs the economy up to 100 million euros, "
            "with the damage growing the longer factories wait for deliveries.",
            "Transport Minister Volker Wissing urged both sides to return to the table and said the government "
            "would not intervene in collective bargaining.",
        ],
        "FOLLOW": [
            "BERLIN, Jan 29 (dpa) - Deutsche Bahn and the GDL union agreed on Monday to resume talks next week "
            "under a truce lasting until early March, ending the six-day strike a few hours early.",
            "The union is demanding a cut in the working week for shift workers from 38 to 35 hours without a "
            "reduction in pay, which Deutsche Bahn says would require hiring thousands of extra staff it cannot "
            "find.",
            "Both sides said they had agreed to keep details of the talks confidential and to name two "
            "mediators, a former state premier and a retired labour judge.",
            "Passenger numbers on long-distance routes fell by more than 80 percent during the walkout, the "
            "railway said.",
            "It is the fourth strike by the GDL in the current round of talks, after shorter walkouts in "
            "November, December and early January.",
        ],
    },
    "S20": {
        "date": "2024-02-17T12:30:00Z",
        "dateline": "SRIHARIKOTA, India, Feb 17 (PTI):",
        "headline": "ISRO launches weather satellite INSAT-3DS",
        "P": [
            "The Indian Space Research Organisation on Saturday successfully launched the weather satellite "
            "INSAT-3DS on board its GSLV-F14 rocket from the Satish Dhawan Space Centre.",
            "The rocket lifted off at 5.35 pm and placed the 2,274-kg satellite into a geosynchronous transfer "
            "orbit about 20 minutes later, the space agency said.",
            '"The satellite is healthy and the solar panels have been deployed. This is a proud moment for our '
            'meteorologists and for the country," ISRO chairman S Somanath said from the mission control room.',
            "INSAT-3DS carries an imager and a sounder that will provide data on cloud cover, temperature and "
            "humidity to improve forecasts of cyclones, monsoon rainfall and other extreme weather.",
            "The mission was fully funded by the Ministry of Earth Sciences and will be operated by the India "
            "Meteorological Department together with national weather centres.",
            "It was the 16th flight of the GSLV, a rocket that has failed in four of its previous missions and "
            "has been nicknamed the naughty boy by some scientists.",
            "ISRO plans several more launches this year, including an uncrewed test flight for its human "
            "spaceflight programme Gaganyaan.",
        ],
        "R": [
            "The Indian Space Research Organisation on Saturday successfully put the weather satellite "
            "INSAT-3DS into space on its GSLV-F14 rocket from the Satish Dhawan Space Centre.",
            "The rocket took off at 5.35 pm and injected the 2,274-kg satellite into a geosynchronous transfer "
            "orbit roughly 20 minutes later, the space agency said.",
            '"The satellite is healthy and the solar panels have been deployed. This is a proud moment for our '
            'meteorologists and for the country," ISRO chief S Somanath said from mission control.',
            "INSAT-3DS has an imager and a sounder that will supply data on cloud cover, temperature and "
            "humidity to sharpen forecasts of cyclones, monsoon rains and other extreme weather.",
            "The mission was entirely financed by the Ministry of Earth Sciences and will be run by the India "
            "Meteorological Department along with national weather centres.",
            "It was the 16th flight of the GSLV, a rocket that has failed in four of its earlier missions and "
            "has been dubbed the naughty boy by some scientists.",
            "ISRO plans several more launches this year, among them an uncrewed test flight for its human "
            "spaceflight mission Gaganyaan.",
        ],
        "TOP": "Prime Minister Narendra Modi on Saturday congratulated ISRO scientists after the space agency "
        "placed the INSAT-3DS weather satellite in orbit, calling it a boost for disaster preparedness.",
        "LOCAL": "Students from the government engineering college in Nellore watched the launch from the "
        "viewing gallery at Sriharikota as part of an outreach programme.",
        "RIVAL": [
            "SRIHARIKOTA, Feb 17 (IANS) India's newest weather satellite rode into orbit on Saturday evening "
            "aboard a GSLV rocket, giving forecasters a sharper eye on cyclones over the Bay of Bengal.",
            '"The satellite is healthy and the solar panels have been deployed. This is a proud moment for our '
            'meteorologists and for the country," ISRO chairman S Somanath said from the mission control room.',
            "Officials at the India Meteorological Department said images from the satellite should begin "
            "arriving within a month, once its instruments are tested in orbit.",
            "It was the 16th flight of the GSLV, a rocket that has failed in four of its previous missions and "
            "has been nicknamed the naughty boy by some scientists.",
            "The launch had been delayed by about two weeks to replace a sensor on the cryogenic upper stage, "
            "according to people familiar with the preparations.",
        ],
        "FOLLOW": [
            "BENGALURU, Feb 24 (PTI): The weather satellite INSAT-3DS has reached its final geostationary orbit "
            "after a series of engine firings, the Indian Space Research Organisation said on Saturday.",
            "INSAT-3DS carries an imager and a sounder that will provide data on cloud cover, temperature and "
            "humidity to improve forecasts of cyclones, monsoon rainfall and other extreme weather.",
            "The first image from the imager, showing the Indian subcontinent under a band of winter cloud, was "
            "released by the space agency on its website.",
            "Engineers will spend the next six weeks calibrating the instruments before the data is handed to "
            "forecasters.",
            "ISRO plans several more launches this year, including an uncrewed test flight for its human "
            "spaceflight programme Gaganyaan.",
        ],
    },
    "S21": {
        "date": "2024-06-18T02:00:00Z",
        "dateline": "SYDNEY, June 18 AAP -",
        "headline": "NSW budget bets on housing as deficit widens",
        "P": [
            "The New South Wales government will spend $5.1 billion over four years on new homes and the "
            "infrastructure to support them, Treasurer Daniel Mookhey said on Tuesday as he handed down a "
            "budget showing a wider deficit.",
            "The state now expects a deficit of $3.5 billion in 2024-25, up from $3.0 billion forecast in "
            "December, as a slump in payroll tax revenue and higher interest costs weigh on the books.",
            '"This budget is about one thing above all: making sure the next generation can afford to live in '
            'the state they grew up in," Mr Mookhey told parliament.',
            "The housing package includes $1.4 billion for water and sewerage in western Sydney, $450 million "
            "to build 8,400 social homes and a fast-track approval pathway for large apartment projects.",
            "The budget also sets aside $2.2 billion for health workers' wages and $650 million for public "
            "school maintenance.",
            "Opposition Leader Mark Speakman said the government had lost control of spending and accused it "
            "of pushing the state towards a credit rating downgrade.",
            "Ratings agencies will review the budget in the coming weeks; Moody's lowered the state's outlook "
            "to negative last year.",
        ],
        "R": [
            "The NSW government will spend $5.1 billion over four years on new homes and the infrastructure "
            "needed to support them, Treasurer Daniel Mookhey said on Tuesday as he delivered a budget showing "
            "a bigger deficit.",
            "The state now forecasts a deficit of $3.5 billion in 2024-25, up from the $3.0 billion predicted "
            "in December, as weak payroll tax revenue and rising interest costs weigh on the books.",
            '"This budget is about one thing above all: making sure the next generation can afford to live in '
            'the state they grew up in," Mr Mookhey told state parliament.',
            "The housing package includes $1.4 billion for water and sewerage in Sydney's west, $450 million to "
            "build 8,400 social homes and a fast-track approvals path for major apartment projects.",
            "The budget also earmarks $2.2 billion for health workers' pay and $650 million for repairs to "
            "public schools.",
            "Opposition Leader Mark Speakman said the government had lost its grip on spending and accused it "
            "of pushing the state toward a credit rating downgrade.",
            "Ratings agencies will examine the budget over the coming weeks; Moody's cut the state's outlook to "
            "negative last year.",
        ],
        "TOP": "NSW unions on Wednesday welcomed the pay money for health workers in the state budget but said "
        "nurses would keep pressing for a 15 per cent rise.",
        "LOCAL": "In the Illawarra, the budget includes $38 million to upgrade Wollongong Hospital's emergency "
        "department, local MP Paul Scully said.",
        "RIVAL": [
            "SYDNEY, June 18 (Reuters) - Australia's most populous state forecast a bigger budget deficit on "
            "Tuesday and pledged billions of dollars to speed up home building, as it struggles with some of "
            "the world's least affordable housing.",
            '"This budget is about one thing above all: making sure the next generation can afford to live in '
            'the state they grew up in," Mr Mookhey told parliament.',
            "Median house prices in Sydney have climbed above $1.6 million, according to property data, and "
            "rents have risen by more than a fifth in two years.",
            "Economists said the plan relied on developers and builders being able to find workers in a tight "
            "labour market, and on lower interest rates next year.",
            "Ratings agencies will review the budget in the coming weeks; Moody's lowered the state's outlook "
            "to negative last year.",
        ],
        "FOLLOW": [
            "SYDNEY, June 19 AAP - NSW Treasurer Daniel Mookhey has defended his budget against claims it "
            "papers over a spending blowout, saying the deficit would shrink to a small surplus by 2027.",
            "The state now expects a deficit of $3.5 billion in 2024-25, up from $3.0 billion forecast in "
            "December, as a slump in payroll tax revenue and higher interest costs weigh on the books.",
            "Speaking on breakfast radio, Mr Mookhey said the state could not cut its way to more homes and that "
            "infrastructure had to come first.",
            "Business groups welcomed the planning changes but criticised the absence of payroll tax relief for "
            "small firms.",
            "Ratings agencies will review the budget in the coming weeks; Moody's lowered the state's outlook "
            "to negative last year.",
        ],
    },
    "S22": {
        "date": "2024-08-07T16:20:00Z",
        "dateline": "BRASILIA, Aug 7 (AFP) -",
        "headline": "Amazon deforestation falls to six-year low, Brazil says",
        "P": [
            "Deforestation in Brazil's Amazon fell by 45.7 percent in the 12 months to July, the lowest level in "
            "six years, according to satellite data released by the government on Wednesday.",
            "The DETER monitoring system of the national space research institute INPE recorded 4,315 square "
            "kilometres of cleared forest between August 2023 and July 2024, against 7,952 square kilometres a "
            "year earlier.",
            '"These numbers show that when the state is present, the law is respected and the forest stands," '
            "Environment Minister Marina Silva said at a press conference in Brasilia.",
            "The government credited stepped-up raids by environmental agents, the seizure of cattle raised on "
            "illegally cleared land and new restrictions on credit for farmers who break the rules.",
            "But destruction in the Cerrado, the vast savanna south of the Amazon, rose by 9 percent over the "
            "same period, driven by the expansion of soybean farming.",
            "President Luiz Inacio Lula da Silva has promised to end illegal deforestation by 2030 and will "
            "host the UN climate conference in the Amazon city of Belem next year.",
            "Environmental groups welcomed the figures but warned that a severe drought and a rise in forest "
            "fires could reverse the gains in the coming months.",
        ],
        "R": [
            "Deforestation in the Brazilian Amazon dropped by 45.7 percent in the 12 months to July, its lowest "
            "level in six years, according to satellite figures published by the government on Wednesday.",
            "The DETER monitoring system of the national space research institute INPE detected 4,315 square "
            "kilometres of cleared forest between August 2023 and July 2024, compared with 7,952 square "
            "kilometres a year before.",
            '"These numbers show that when the state is present, the law is respected and the forest stands," '
            "Environment Minister Marina Silva told a news conference in Brasilia.",
            "The government attributed the drop to increased raids by environmental agents, the confiscation "
            "of cattle raised on illegally cleared land and new limits on loans for farmers who flout the rules.",
            "But destruction in the Cerrado, the huge savanna south of the Amazon, increased by 9 percent over "
            "the same period, driven by the spread of soybean farming.",
            "President Luiz Inacio Lula da Silva has pledged to end illegal deforestation by 2030 and will host "
            "the UN climate summit in the Amazon city of Belem next year.",
            "Environmental groups hailed the figures but cautioned that a severe drought and a surge in forest "
            "fires could undo the gains in the months ahead.",
        ],
        "TOP": "Brazil's environment ministry said on Thursday it would extend satellite-guided raids to the "
        "Cerrado savanna, a day after data showed Amazon deforestation had fallen to a six-year low.",
        "LOCAL": "In Paris, the French development agency said it would disburse a further 20 million euros to "
        "Brazil's Amazon Fund later this year.",
        "RIVAL": [
            "BRASILIA, Aug 7 (Reuters) - Clearing of the Brazilian Amazon rainforest nearly halved in the year "
            "through July, official data showed on Wednesday, handing President Lula a boost before he hosts "
            "next year's climate talks.",
            '"These numbers show that when the state is present, the law is respected and the forest stands," '
            "Environment Minister Marina Silva said at a press conference in Brasilia.",
            "Scientists cautioned that the DETER alerts are preliminary and that the more precise annual PRODES "
            "figures, due in November, sometimes differ by several percentage points.",
            "But destruction in the Cerrado, the vast savanna south of the Amazon, rose by 9 percent over the "
            "same period, driven by the expansion of soybean farming.",
            "Farm lobby groups said tighter credit rules were hurting small producers who had no access to "
            "legal titles for their land.",
        ],
        "FOLLOW": [
            "BRASILIA, Aug 20 (AFP) - Fires in the Brazilian Amazon more than doubled in the first half of "
            "August compared with a year earlier, INPE data showed on Tuesday, as a historic drought dried out "
            "the forest.",
            "Satellites detected 18,600 fire hotspots in the region between August 1 and 18, and smoke closed "
            "airports in two state capitals.",
            "The government credited stepped-up raids by environmental agents, the seizure of cattle raised on "
            "illegally cleared land and new restrictions on credit for farmers who break the rules.",
            "Environmental groups welcomed the figures but warned that a severe drought and a rise in forest "
            "fires could reverse the gains in the coming months.",
            "Firefighters from three federal agencies were sent to Para and Amazonas states, the environment "
            "ministry said.",
        ],
    },
}

OUTLETS = [
    ("The Coastal Herald", "© 2024 The Coastal Herald. All rights reserved."),
    ("Metro Daily", "Subscribe to Metro Daily for unlimited access."),
    ("The Northern Star", "Copyright The Northern Star 2024"),
]

_NUMBER_WORDS = {
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "eight": "8",
    "nine": "9",
}


def sweep(text: str) -> str:
    """A house-style pass: per cent, US, spelled-out numbers as numerals (and
    numerals below ten spelled out), honorifics dropped, km/kph spelled, quotes curly."""
    out = text.replace(" percent", " per cent").replace("U.S.", "US")
    out = re.sub(r"\bMr\.? ", "", out)
    out = out.replace("kilometres", "km").replace("kilometers", "km").replace("kph", "km/h")
    out = out.replace("Department", "Dept.")

    def nums(match: re.Match) -> str:
        word = match.group(0)
        low = word.lower()
        if low in _NUMBER_WORDS:
            return _NUMBER_WORDS[low]
        return word

    out = re.sub(r"\b(?:two|three|four|five|six|eight|nine)\b", nums, out)
    out = re.sub(
        r"\b([2-9])\s+(?=[a-z])",
        lambda m: {
            "2": "two ",
            "3": "three ",
            "4": "four ",
            "5": "five ",
            "6": "six ",
            "7": "seven ",
            "8": "eight ",
            "9": "nine ",
        }[m.group(1)],
        out,
    )
    out = re.sub(r'"([^"]*)"', "“\\1”", out)
    return out


def _mix(orig: list[str], rew: list[str], every: int) -> list[str]:
    """A lighter rewrite: every ``every``-th paragraph kept as in the original."""
    return [o if i % every == 0 else r for i, (o, r) in enumerate(zip(orig, rew))]


REACTION = {
    "S17": [
        "ANTOFAGASTA, May 7 (EFE) - Mining unions in northern Chile called on Tuesday for an independent audit of slope monitoring at state-run pits, two days after the Cerro Blanco landslide.",
        "The federation's president, Hugo Tapia, said contract workers were routinely sent into areas that permanent staff had been told to avoid.",
        "Codemin did not respond to the union's claims on Tuesday.",
    ],
    "S18": [
        "TUGUEGARAO, Sept 3 (PNA) - Mayors in Cagayan province said on Tuesday that evacuation centres were filling faster than expected and asked Manila for more tents and portable toilets.",
        "Schools and gymnasiums in at least nine towns were being used as shelters, and some families had brought livestock with them, a provincial official said.",
        "Volunteers from church groups were cooking meals at the provincial capitol.",
    ],
    "S19": [
        "FRANKFURT, Jan 23 (AFP) - Airlines and long-distance bus companies reported a surge in bookings on Tuesday as travellers scrambled for alternatives ahead of the rail strike.",
        "One bus operator said it had added 200 extra services and that seats on its Berlin-Munich route were almost sold out for Wednesday.",
        "Car rental firms at major stations also reported high demand.",
    ],
    "S20": [
        "NEW DELHI, Feb 18 (ANI) - Meteorologists said on Sunday the new satellite would let them track cyclones every 15 minutes instead of every half hour, a gain they described as vital for coastal warnings.",
        "The India Meteorological Department's director general said the data would also feed into agricultural advisories sent to farmers by text message.",
        "Fishermen's groups in Odisha welcomed the launch.",
    ],
    "S21": [
        "SYDNEY, June 18 (SMH) - Homebuilders gave a cautious welcome to the NSW budget on Tuesday but said a shortage of tradespeople would limit how quickly the promised homes could be built.",
        "The Housing Industry Association said approvals in the state were running at their lowest level in a decade.",
        "Property developers urged the state to cut stamp duty as well.",
    ],
    "S22": [
        "SAO PAULO, Aug 8 (Reuters) - Shares in Brazilian meatpackers were little changed on Thursday after the deforestation figures, which analysts said reduced the risk of European import bans on beef.",
        "A trade group for soybean exporters said its members had already excluded suppliers linked to illegal clearing in the Amazon.",
        "The European Union's anti-deforestation rules take effect at the end of the year.",
    ],
}


def copies(s: dict) -> list[tuple[str, list[str], str, list[str]]]:
    """(suffix, paragraphs, dateline, edits) for each copy of a story."""
    p, r, top, local = s["P"], s["R"], s["TOP"], s["LOCAL"]
    d = s["dateline"]
    n = len(p)
    return [
        ("c1", r, d, ["house_rewrite"]),
        ("c2", [sweep(x) for x in r], d.upper(), ["house_rewrite", "style_sweep"]),
        ("c3", [sweep(x) for x in p[:3]], d, ["heavy_trim_40pct", "style_sweep"]),
        ("c4", r[:2], "", ["heavy_trim_30pct", "house_rewrite"]),
        ("c5", [r[0], r[2], r[1], local, r[4]], d, ["trim", "reorder", "house_rewrite", "local_paragraph"]),
        (
            "c6",
            ["Editor's note: This story has been updated with comment from the company."]
            + [sweep(x) for x in p],
            d,
            ["editors_note", "style_sweep"],
        ),
        ("c7", [top] + p[: n - 1], d, ["write_through", "trim_last"]),
        ("c8", [top] + r[:4], d, ["write_through", "house_rewrite", "trim"]),
        ("c9", [local] + _mix(p, r, 2)[:4], "", ["local_paragraph_on_top", "light_rewrite", "trim"]),
        (
            "c10",
            _mix(r, p, 3)[:5]
            + ["Correction: An earlier version misstated a figure in the fourth paragraph."],
            d,
            ["light_rewrite", "trim", "correction_note"],
        ),
    ]


def main() -> None:
    rows = []
    parts = {
        "S17": "tune",
        "S19": "tune",
        "S21": "tune",
        "S18": "heldout",
        "S20": "heldout",
        "S22": "heldout",
    }
    for key, s in STORIES.items():
        sid = f"rw-{key}"
        part = parts[key]
        day = s["date"]
        rows.append(
            {
                "id": f"{sid}-orig",
                "text": f"{s['dateline']} " + "\n\n".join(s["P"]),
                "headline": s["headline"],
                "cluster": sid,
                "published": day,
                "role": "original",
                "edits": ["original"],
                "part": part,
            }
        )
        for k, (suffix, paras, dateline, edits) in enumerate(copies(s)):
            outlet, footer = OUTLETS[k % len(OUTLETS)]
            body = "\n\n".join(paras)
            text = (f"{dateline} " + body if dateline else body) + f"\n\n{footer}"
            hour = 10 + k
            rows.append(
                {
                    "id": f"{sid}-{suffix}",
                    "text": text,
                    "headline": f"{s['headline']} ({outlet})",
                    "cluster": sid,
                    "published": day[:11] + f"{hour:02d}" + day[13:],
                    "role": "copy",
                    "edits": edits,
                    "part": part,
                }
            )
        rows.append(
            {
                "id": f"{sid}-rival",
                "text": "\n\n".join(s["RIVAL"]),
                "headline": s["headline"] + " - rival report",
                "cluster": f"{sid}-rival",
                "published": day,
                "role": "hard_negative",
                "edits": ["rival_agency_same_official_quoted", "shares_2_verbatim_paragraphs"],
                "part": part,
            }
        )
        rows.append(
            {
                "id": f"{sid}-follow",
                "text": "\n\n".join(s["FOLLOW"]),
                "headline": "Follow-up: " + s["headline"],
                "cluster": f"{sid}-follow",
                "published": day,
                "role": "hard_negative",
                "edits": ["follow_up", "repeats_2_background_paragraphs"],
                "part": part,
            }
        )
        # A reaction piece: its own report that quotes the same official's statement
        # verbatim and repeats one background paragraph.
        rows.append(
            {
                "id": f"{sid}-react",
                "text": "\n\n".join(REACTION[key][:2] + [s["P"][2]] + REACTION[key][2:] + [s["P"][-1]]),
                "headline": "Reaction: " + s["headline"],
                "cluster": f"{sid}-react",
                "published": day,
                "role": "hard_negative",
                "edits": ["reaction_same_official_quoted", "repeats_1_background_paragraph"],
                "part": part,
            }
        )
    digests = {
        "D4": ("tune", ["S17", "S19", "S21"], 1),
        "D5": ("heldout", ["S18", "S20", "S22"], 2),
        "D6": ("heldout", ["S22", "S18", "S20", "S17"], 1),
    }
    for did, (part, keys, depth) in digests.items():
        paras = ["WORLD BRIEFING"]
        for key in keys:
            s = STORIES[key]
            paras.append(s["headline"].upper())
            paras.extend(s["R" if did == "D6" else "P"][:depth])
        rows.append(
            {
                "id": f"rw-{did}",
                "text": "\n\n".join(paras),
                "headline": "World briefing",
                "cluster": f"rw-{did}",
                "published": "2024-09-03T06:00:00Z",
                "role": "digest",
                "edits": ["digest"],
                "part": part,
            }
        )
    with open(os.path.join(HERE, "rewrites.jsonl"), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} rows")


if __name__ == "__main__":
    main()
