<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR">
<context>
    <name>AssistantPanel</name>
    <message>
        <location filename="../assistant_panel.py" line="171"/>
        <source>Assistant mode</source>
        <translation>Mode assistant</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="174"/>
        <source>Devices</source>
        <translation>Appareils</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="175"/>
        <source>Alerts</source>
        <translation>Alertes</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="176"/>
        <source>Paper and cleaning</source>
        <translation>Papier et nettoyage</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="177"/>
        <source>Logs and restart</source>
        <translation>Journaux et redémarrage</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="178"/>
        <source>Self-test</source>
        <translation>Autotest</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="189"/>
        <source>Leave the assistant mode</source>
        <translation>Quitter le mode assistant</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="210"/>
        <source>connected</source>
        <translation>connecté</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="211"/>
        <source>connecting</source>
        <translation>connexion en cours</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="212"/>
        <source>not connected</source>
        <translation>non connecté</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="213"/>
        <source>fault</source>
        <translation>en panne</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="216"/>
        <source>Doctors&apos; service: connected.</source>
        <translation>Service des médecins : connecté.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="217"/>
        <source>Doctors&apos; service: connecting…</source>
        <translation>Service des médecins : connexion en cours…</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="218"/>
        <source>Doctors&apos; service: not reachable; the cabin keeps trying.</source>
        <translation>Service des médecins : injoignable ; la cabine réessaie d’elle-même.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="220"/>
        <source>Doctors&apos; service: the cabin&apos;s credential is refused; call the operator.</source>
        <translation>Service des médecins : l’identifiant de la cabine est refusé ; appelez l’exploitant.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="222"/>
        <source>Doctors&apos; service: stopped.</source>
        <translation>Service des médecins : arrêté.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="227"/>
        <source>Doctors&apos; service: this cabin has no credential.</source>
        <translation>Service des médecins : cette cabine n’a pas d’identifiant.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="233"/>
        <source>No instrument is configured.</source>
        <translation>Aucun appareil n’est configuré.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="236"/>
        <source>battery %1 %</source>
        <translation>pile %1 %</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="238"/>
        <source>battery unknown</source>
        <translation>pile inconnue</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="243"/>
        <source>never</source>
        <translation>jamais</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="246"/>
        <source>Last reading: %1</source>
        <translation>Dernière mesure : %1</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="249"/>
        <source>Last error: %1</source>
        <translation>Dernière erreur : %1</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="254"/>
        <source>Test</source>
        <translation>Tester</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="262"/>
        <source>Pair</source>
        <translation>Appairer</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="274"/>
        <source>Searching for Bluetooth devices nearby…</source>
        <translation>Recherche des appareils Bluetooth à proximité…</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="283"/>
        <source>Health devices switched on nearby, nearest first:</source>
        <translation>Appareils de santé allumés à proximité, du plus proche au plus loin :</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="290"/>
        <source>Choose</source>
        <translation>Choisir</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="301"/>
        <source>Forget the paired device</source>
        <translation>Oublier l’appareil appairé</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="307"/>
        <source>No device found: is it switched on?</source>
        <translation>Aucun appareil trouvé : est-il allumé ?</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="309"/>
        <source>Choose the device.</source>
        <translation>Choisissez l’appareil.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="316"/>
        <source>%1 paired.</source>
        <translation>%1 appairé.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="324"/>
        <source>Back to the configured device.</source>
        <translation>Retour à l’appareil configuré.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="335"/>
        <location filename="../assistant_panel.py" line="338"/>
        <source>Testing %1…</source>
        <translation>Test de %1…</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="340"/>
        <source>%1 works.</source>
        <translation>%1 fonctionne.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="343"/>
        <source>%1 failed: %2</source>
        <translation>%1 a échoué : %2</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="349"/>
        <location filename="../assistant_panel.py" line="571"/>
        <source>Loading…</source>
        <translation>Chargement…</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="355"/>
        <source>No alert is open.</source>
        <translation>Aucune alerte en cours.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="355"/>
        <source>Open alerts:</source>
        <translation>Alertes en cours :</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="362"/>
        <source>Handled</source>
        <translation>Traitée</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="369"/>
        <source>False alarm</source>
        <translation>Fausse alerte</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="381"/>
        <source>Alert recorded as handled.</source>
        <translation>Alerte enregistrée comme traitée.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="388"/>
        <source>Sheets put in</source>
        <translation>Feuilles ajoutées</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="396"/>
        <source>Type how many sheets you put in.</source>
        <translation>Tapez le nombre de feuilles ajoutées.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="401"/>
        <source>Paper refill recorded.</source>
        <translation>Remplissage du papier enregistré.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="405"/>
        <source>Cleaning recorded.</source>
        <translation>Nettoyage enregistré.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="410"/>
        <source>Sheets left: unknown</source>
        <translation>Feuilles restantes : inconnu</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="412"/>
        <source>Sheets left: %1</source>
        <translation>Feuilles restantes : %1</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="417"/>
        <source>Paper refilled</source>
        <translation>Papier remis</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="418"/>
        <source>Cabin cleaned</source>
        <translation>Cabine nettoyée</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="426"/>
        <source>Test page printed (%1).</source>
        <translation>Page de test imprimée (%1).</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="467"/>
        <source>Print a test page</source>
        <translation>Imprimer une page de test</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="472"/>
        <source>Print them again</source>
        <translation>Les réimprimer</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="438"/>
        <source>No patient document waits for the printer.</source>
        <translation>Aucun document de patient n&apos;attend l&apos;imprimante.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="441"/>
        <source>prescription %1</source>
        <translation>ordonnance %1</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="443"/>
        <source>consultation summary</source>
        <translation>compte rendu de consultation</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="447"/>
        <source>Waiting for the printer (%1): %2</source>
        <translation>En attente de l&apos;imprimante (%1) : %2</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="458"/>
        <source>Printed again: %1. Still waiting: %2.</source>
        <translation>Réimprimés : %1. Encore en attente : %2.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="484"/>
        <source>Getting the printer ready, one moment please.</source>
        <translation>Préparation de l’imprimante, un instant s’il vous plaît.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="488"/>
        <source>Printer: none configured.</source>
        <translation>Imprimante : aucune configurée.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="490"/>
        <source>ready</source>
        <translation>prête</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="491"/>
        <source>ready, but the paper runs low</source>
        <translation>prête, mais il reste peu de papier</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="492"/>
        <source>out of paper</source>
        <translation>plus de papier</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="493"/>
        <source>paper jammed</source>
        <translation>papier coincé</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="494"/>
        <source>offline or stopped</source>
        <translation>hors ligne ou arrêtée</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="495"/>
        <source>in error (see its panel)</source>
        <translation>en erreur (voir son écran)</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="497"/>
        <source>Printer: %1.</source>
        <translation>Imprimante : %1.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="501"/>
        <source>The export holds the logs of devices, paper, cleaning, alerts, access.</source>
        <translation>L’export contient les journaux des appareils, du papier, du nettoyage, des alertes et des accès.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="504"/>
        <source>Export the logs</source>
        <translation>Exporter les journaux</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="507"/>
        <source>A restart ends any consultation safely and starts the cabin again.</source>
        <translation>Un redémarrage termine proprement toute consultation et relance la cabine.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="511"/>
        <source>Restart the cabin</source>
        <translation>Redémarrer la cabine</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="520"/>
        <source>Instrument</source>
        <translation>Appareil</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="521"/>
        <source>Camera</source>
        <translation>Caméra</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="522"/>
        <source>Microphone</source>
        <translation>Micro</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="523"/>
        <source>Speaker</source>
        <translation>Haut-parleur</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="524"/>
        <source>Printer</source>
        <translation>Imprimante</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="525"/>
        <source>Disk space</source>
        <translation>Espace disque</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="526"/>
        <source>Clock</source>
        <translation>Horloge</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="527"/>
        <source>Doctors&apos; service</source>
        <translation>Service des médecins</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="528"/>
        <source>Video relay (TURN)</source>
        <translation>Relais vidéo (TURN)</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="529"/>
        <source>Database</source>
        <translation>Base de données</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="536"/>
        <source>Not tested on this cabin; nothing to do.</source>
        <translation>Non testé sur cette cabine ; rien à faire.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="539"/>
        <source>Switch the device on, check its batteries and its cable, then test it.</source>
        <translation>Allumez l&apos;appareil, vérifiez ses piles et son câble, puis testez-le.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="541"/>
        <source>Check that nothing covers the camera and its cable.</source>
        <translation>Vérifiez que rien ne couvre la caméra, et son câble.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="542"/>
        <source>Check the microphone&apos;s cable and that it is on.</source>
        <translation>Vérifiez le câble du micro et qu&apos;il est allumé.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="543"/>
        <source>Check the speaker&apos;s volume and its cable.</source>
        <translation>Vérifiez le volume du haut-parleur et son câble.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="544"/>
        <source>Check the paper and the printer&apos;s panel.</source>
        <translation>Vérifiez le papier et l&apos;écran de l&apos;imprimante.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="545"/>
        <source>The disk is nearly full: tell the operator.</source>
        <translation>Le disque est presque plein : prévenez l&apos;exploitant.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="546"/>
        <source>The clock is not set by the network: tell the operator.</source>
        <translation>L&apos;horloge n&apos;est pas réglée par le réseau : prévenez l&apos;exploitant.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="548"/>
        <source>The doctors&apos; service cannot be reached: check the network, tell the operator.</source>
        <translation>Le service des médecins est injoignable : vérifiez le réseau, prévenez l&apos;exploitant.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="550"/>
        <source>Video calls may fail on this network: tell the operator.</source>
        <translation>Les appels vidéo risquent d&apos;échouer sur ce réseau : prévenez l&apos;exploitant.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="551"/>
        <source>The cabin&apos;s records need care: tell the operator.</source>
        <translation>Les données de la cabine demandent un contrôle : prévenez l&apos;exploitant.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="557"/>
        <source>FAILED</source>
        <translation>ÉCHEC</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="558"/>
        <source>To check</source>
        <translation>À vérifier</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="559"/>
        <source>Not tested</source>
        <translation>Non testé</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="560"/>
        <source>OK</source>
        <translation>OK</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="568"/>
        <source>The self-test is getting ready (the cabin has just started).</source>
        <translation>L&apos;autotest se prépare (la cabine vient de démarrer).</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="574"/>
        <source>Run the self-test</source>
        <translation>Lancer l&apos;autotest</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="587"/>
        <source>No self-test has run yet.</source>
        <translation>Aucun autotest n&apos;a encore été fait.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="590"/>
        <source>at start</source>
        <translation>au démarrage</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="591"/>
        <source>nightly</source>
        <translation>de nuit</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="592"/>
        <source>asked by an agent</source>
        <translation>demandé par un agent</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="597"/>
        <source>Last self-test: %1 (%2). Failed: %3. To check: %4. Not tested: %5.</source>
        <translation>Dernier autotest : %1 (%2). Échecs : %3. À vérifier : %4. Non testés : %5.</translation>
    </message>
    <message numerus="yes">
        <location filename="../assistant_panel.py" line="629"/>
        <source>And %n more: the operator sees them all.</source>
        <translation>
            <numerusform>Et %n autre : l&apos;exploitant les voit tous.</numerusform>
            <numerusform>Et %n autres : l&apos;exploitant les voit tous.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="645"/>
        <source>Self-test running: about ten seconds…</source>
        <translation>Autotest en cours : une dizaine de secondes…</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="651"/>
        <source>A patient is in a consultation: the self-test runs once the cabin is free.</source>
        <translation>Un patient est en consultation : l&apos;autotest se fera quand la cabine sera libre.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="656"/>
        <source>Self-test done.</source>
        <translation>Autotest terminé.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="660"/>
        <source>Logs written to %1</source>
        <translation>Journaux écrits dans %1</translation>
    </message>
</context>
<context>
    <name>CallPage</name>
    <message>
        <location filename="../call_page.py" line="189"/>
        <source>With the doctor</source>
        <translation>Avec le médecin</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="124"/>
        <source>The doctor&apos;s image will appear here.</source>
        <translation>L’image du médecin va apparaître ici.</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="126"/>
        <source>Your image</source>
        <translation>Votre image</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="173"/>
        <source>Speak normally; the doctor sees and hears you.</source>
        <translation>Parlez normalement : le médecin vous voit et vous entend.</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="193"/>
        <source>End the call</source>
        <translation>Terminer l’appel</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="209"/>
        <source>Do you really want to end the call with the doctor?</source>
        <translation>Voulez-vous vraiment terminer l’appel avec le médecin ?</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="215"/>
        <source>Yes</source>
        <translation>Oui</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="218"/>
        <source>No</source>
        <translation>Non</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="249"/>
        <source>%1 will see you. Connecting…</source>
        <translation>%1 va vous recevoir. Connexion en cours…</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="253"/>
        <source>Connecting to the doctor…</source>
        <translation>Connexion avec le médecin…</translation>
    </message>
    <message>
        <location filename="../call_page.py" line="256"/>
        <source>The connection is interrupted. Stay seated: the call comes back by itself.</source>
        <translation>La connexion est coupée. Restez assis : l’appel va reprendre tout seul.</translation>
    </message>
</context>
<context>
    <name>IdentifyPage</name>
    <message>
        <location filename="../identify_page.py" line="79"/>
        <source>Do you have an appointment?</source>
        <translation>Avez-vous un rendez-vous ?</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="80"/>
        <source>If you booked, you received a code of six digits.</source>
        <translation>Si vous avez pris rendez-vous, vous avez reçu un code de six chiffres.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="82"/>
        <source>I have an appointment code</source>
        <translation>J’ai un code de rendez-vous</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="83"/>
        <source>I have no appointment</source>
        <translation>Je n’ai pas de rendez-vous</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="84"/>
        <location filename="../identify_page.py" line="122"/>
        <location filename="../identify_page.py" line="186"/>
        <location filename="../identify_page.py" line="301"/>
        <location filename="../identify_page.py" line="322"/>
        <source>Back</source>
        <translation>Retour</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="94"/>
        <location filename="../identify_page.py" line="160"/>
        <source>Code</source>
        <translation>Code</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="104"/>
        <source>The code has six digits. Please check it.</source>
        <translation>Le code a six chiffres. Vérifiez-le, s’il vous plaît.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="113"/>
        <source>Checking…</source>
        <translation>Vérification…</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="118"/>
        <source>Check my code</source>
        <translation>Vérifier mon code</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="121"/>
        <location filename="../identify_page.py" line="185"/>
        <source>Continue without an appointment</source>
        <translation>Continuer sans rendez-vous</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="124"/>
        <source>Your appointment code</source>
        <translation>Votre code de rendez-vous</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="125"/>
        <source>Type the six digits of your code.</source>
        <translation>Tapez les six chiffres de votre code.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="146"/>
        <source>This code has already been used. You can continue without an appointment: a doctor will see you.</source>
        <translation>Ce code a déjà servi. Vous pouvez continuer sans rendez-vous : un médecin vous recevra.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="153"/>
        <source>This code does not open an appointment at this cabin now. Check the six digits, and the town and day of your appointment.</source>
        <translation>Ce code ne correspond à aucun rendez-vous dans cette cabine en ce moment. Vérifiez les six chiffres, ainsi que la commune et le jour de votre rendez-vous.</translation>
    </message>
    <message numerus="yes">
        <location filename="../identify_page.py" line="173"/>
        <source>Too many wrong codes. The keypad is paused for %n minute(s).</source>
        <translation>
            <numerusform>Trop de codes erronés. Le clavier est en pause pendant %n minute.</numerusform>
            <numerusform>Trop de codes erronés. Le clavier est en pause pendant %n minutes.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../identify_page.py" line="178"/>
        <source>Too many wrong codes. The keypad is paused for %n second(s).</source>
        <translation>
            <numerusform>Trop de codes erronés. Le clavier est en pause pendant %n seconde.</numerusform>
            <numerusform>Trop de codes erronés. Le clavier est en pause pendant %n secondes.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="182"/>
        <source>Please wait a moment</source>
        <translation>Patientez un instant</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="220"/>
        <source>Your appointment at %1 with %2.</source>
        <translation>Votre rendez-vous à %1 avec %2.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="225"/>
        <source>Your appointment at %1.</source>
        <translation>Votre rendez-vous à %1.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="232"/>
        <source>Please type your date of birth: day, month, year.</source>
        <translation>Tapez votre date de naissance : jour, mois, année.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="240"/>
        <source>This date does not match the appointment. You can continue without an appointment: a doctor will see you.</source>
        <translation>Cette date ne correspond pas au rendez-vous. Vous pouvez continuer sans rendez-vous : un médecin vous recevra.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="246"/>
        <source>Hello %1</source>
        <translation>Bonjour %1</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="247"/>
        <source>To be sure it is you, type your date of birth.</source>
        <translation>Pour être sûr que c’est vous, tapez votre date de naissance.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="249"/>
        <source>Confirm</source>
        <translation>Confirmer</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="250"/>
        <source>This is not me</source>
        <translation>Ce n’est pas moi</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="300"/>
        <source>Continue</source>
        <translation>Continuer</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="260"/>
        <source>Family name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="261"/>
        <source>Given names</source>
        <translation>Prénoms</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="212"/>
        <location filename="../identify_page.py" line="262"/>
        <source>Date of birth (DD/MM/YYYY)</source>
        <translation>Date de naissance (JJ/MM/AAAA)</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="292"/>
        <source>Please check your name and your date of birth.</source>
        <translation>Vérifiez votre nom et votre date de naissance.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="297"/>
        <source>Who are you?</source>
        <translation>Qui êtes-vous ?</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="298"/>
        <source>Your name and date of birth let the doctor find your record.</source>
        <translation>Votre nom et votre date de naissance permettent au médecin de retrouver votre dossier.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="315"/>
        <source>You are:</source>
        <translation>Vous êtes :</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="316"/>
        <source>Your prescription states it.</source>
        <translation>Votre ordonnance l&apos;indique.</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="318"/>
        <source>A woman</source>
        <translation>Une femme</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="319"/>
        <source>A man</source>
        <translation>Un homme</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="320"/>
        <source>Other</source>
        <translation>Autre</translation>
    </message>
    <message>
        <location filename="../identify_page.py" line="321"/>
        <source>I prefer not to say</source>
        <translation>Je préfère ne pas répondre</translation>
    </message>
</context>
<context>
    <name>InstrumentPicture</name>
    <message>
        <location filename="../illustrations.py" line="396"/>
        <source>The cuff on the bare upper arm, two fingers above the elbow, the arm resting on the table</source>
        <translation>Le brassard sur le haut du bras nu, deux doigts au-dessus du coude, le bras posé sur la table</translation>
    </message>
    <message>
        <location filename="../illustrations.py" line="400"/>
        <source>The tip of the thermometer brought to the middle of the forehead</source>
        <translation>Le bout du thermomètre approché du milieu du front</translation>
    </message>
    <message>
        <location filename="../illustrations.py" line="403"/>
        <source>The index finger all the way into the clip, nail up</source>
        <translation>L’index jusqu’au fond de la pince, ongle vers le haut</translation>
    </message>
</context>
<context>
    <name>Keyboard</name>
    <message>
        <location filename="../keyboards.py" line="64"/>
        <source>space</source>
        <translation>espace</translation>
    </message>
</context>
<context>
    <name>KioskWindow</name>
    <message>
        <location filename="../kiosk_window.py" line="516"/>
        <source>Something did not work. Please try again, or press the help button.</source>
        <translation>Quelque chose n’a pas fonctionné. Réessayez, ou appuyez sur le bouton d’aide.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="599"/>
        <source>Welcome to the medical cabin</source>
        <translation>Bienvenue dans la cabine médicale</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="600"/>
        <source>A doctor can see you by video here. Touch the button to begin.</source>
        <translation>Ici, un médecin vous reçoit en vidéo. Touchez le bouton pour commencer.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="591"/>
        <source>Start</source>
        <translation>Commencer</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="362"/>
        <source>This cabin watches for falls and calls for help; no image and no sound leaves it.</source>
        <translation>Cette cabine surveille les chutes et les appels à l’aide ; aucune image ni aucun son ne la quitte.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="371"/>
        <source>The doctor service cannot be reached at the moment. For an emergency, call 15 or 112. Otherwise, please come back later.</source>
        <translation>Le service des médecins est injoignable en ce moment. En cas d’urgence, appelez le 15 ou le 112. Sinon, merci de revenir plus tard.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="592"/>
        <location filename="../kiosk_window.py" line="889"/>
        <source>Agent</source>
        <translation>Agent</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="604"/>
        <source>No doctor available at the moment</source>
        <translation>Aucun médecin disponible pour le moment</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="606"/>
        <source>You can still take your measurements and print them.</source>
        <translation>Vous pouvez tout de même prendre vos mesures et les imprimer.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="631"/>
        <source>Hello</source>
        <translation>Bonjour</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="633"/>
        <source>The consultation takes about twenty minutes: a few measurements, then a video call with a doctor.</source>
        <translation>La consultation dure environ vingt minutes : quelques mesures, puis un appel vidéo avec un médecin.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="637"/>
        <location filename="../kiosk_window.py" line="837"/>
        <source>Continue</source>
        <translation>Continuer</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="638"/>
        <location filename="../kiosk_window.py" line="752"/>
        <location filename="../kiosk_window.py" line="773"/>
        <source>Stop</source>
        <translation>Arrêter</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="663"/>
        <source>Your agreement</source>
        <translation>Votre accord</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="665"/>
        <source>Your measurements and the consultation are recorded in your medical file, encrypted, and shared only with the doctors who treat you. Nothing is shown to the next person.</source>
        <translation>Vos mesures et la consultation sont enregistrées dans votre dossier médical, chiffré, et partagées seulement avec les médecins qui vous soignent. Rien n’est montré à la personne suivante.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="670"/>
        <source>I agree</source>
        <translation>J’accepte</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="671"/>
        <source>I do not agree</source>
        <translation>Je refuse</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="696"/>
        <source>Fever</source>
        <translation>Fièvre</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="697"/>
        <source>Cough, cold or sore throat</source>
        <translation>Toux, rhume ou mal de gorge</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="698"/>
        <source>Pain</source>
        <translation>Douleur</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="699"/>
        <source>Skin problem</source>
        <translation>Problème de peau</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="700"/>
        <source>Renew a prescription</source>
        <translation>Renouveler une ordonnance</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="701"/>
        <source>Something else</source>
        <translation>Autre chose</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="713"/>
        <source>Why do you come today?</source>
        <translation>Pourquoi venez-vous aujourd’hui ?</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="714"/>
        <source>Touch the answer closest to it. You will tell the doctor more.</source>
        <translation>Touchez la réponse la plus proche. Vous en direz plus au médecin.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="732"/>
        <source>Connecting to the doctors, one moment please.</source>
        <translation>Connexion aux médecins en cours, un instant s’il vous plaît.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="735"/>
        <source>You are number %1 in the queue.</source>
        <translation>Vous êtes le numéro %1 dans la file d’attente.</translation>
    </message>
    <message numerus="yes">
        <location filename="../kiosk_window.py" line="739"/>
        <source>Estimated wait: about %n minutes.</source>
        <translation>
            <numerusform>Attente estimée : environ %n minute.</numerusform>
            <numerusform>Attente estimée : environ %n minutes.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="742"/>
        <source>While you wait, you can prepare: your carte Vitale, the list or the boxes of the medicines you take, your glasses.</source>
        <translation>En attendant, vous pouvez préparer : votre carte Vitale, la liste ou les boîtes des médicaments que vous prenez, vos lunettes.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="750"/>
        <source>A doctor will answer you</source>
        <translation>Un médecin va vous répondre</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="751"/>
        <source>Please stay seated. The doctor will appear on this screen.</source>
        <translation>Restez assis. Le médecin va apparaître sur cet écran.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="762"/>
        <source>Your measurements are kept. You can print them now, to show them to your doctor. If the service comes back while you wait, a doctor will answer you here.</source>
        <translation>Vos mesures sont conservées. Vous pouvez les imprimer maintenant pour les montrer à votre médecin. Si le service revient pendant que vous attendez, un médecin vous répondra ici.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="769"/>
        <source>No doctor can be reached at the moment</source>
        <translation>Aucun médecin ne peut être joint pour le moment</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="772"/>
        <source>Print my measurements</source>
        <translation>Imprimer mes mesures</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="825"/>
        <source>Getting the printer ready, one moment please.</source>
        <translation>Préparation de l’imprimante, un instant s’il vous plaît.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="832"/>
        <source>The consultation is over</source>
        <translation>La consultation est terminée</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="833"/>
        <source>Your documents are printed below the screen.</source>
        <translation>Vos documents sont imprimés sous l’écran.</translation>
    </message>
    <message numerus="yes">
        <location filename="../kiosk_window.py" line="848"/>
        <source>The doctor sent you a prescription of %n medicine(s).</source>
        <translation>
            <numerusform>Le médecin vous a prescrit %n médicament.</numerusform>
            <numerusform>Le médecin vous a prescrit %n médicaments.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="854"/>
        <source>Printing: page %1 of %2.</source>
        <translation>Impression : page %1 sur %2.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="859"/>
        <source>Your documents are printed: take them below the screen.</source>
        <translation>Vos documents sont imprimés : prenez-les sous l’écran.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="861"/>
        <source>The printer cannot print now. The agent has been told: your prescription is kept and will be printed for you.</source>
        <translation>L’imprimante ne peut pas imprimer pour le moment. L’agent est prévenu : votre ordonnance est gardée et sera imprimée pour vous.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="870"/>
        <source>How was your consultation?</source>
        <translation>Comment s’est passée votre consultation ?</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="871"/>
        <source>One touch is enough.</source>
        <translation>Un seul appui suffit.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="873"/>
        <source>Good</source>
        <translation>Bien</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="874"/>
        <source>Average</source>
        <translation>Moyen</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="875"/>
        <source>Bad</source>
        <translation>Mal</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="882"/>
        <source>Thank you, goodbye</source>
        <translation>Merci, au revoir</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="884"/>
        <source>Please wipe the cuff, the thermometer and the finger clip with a wipe from the box, then press Done.</source>
        <translation>Essuyez le brassard, le thermomètre et la pince du doigt avec une lingette de la boîte, puis appuyez sur Terminé.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="888"/>
        <source>Done</source>
        <translation>Terminé</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="905"/>
        <source>Are you still there?</source>
        <translation>Êtes-vous toujours là ?</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="919"/>
        <source>Someone is on the way</source>
        <translation>Un agent est en route</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="920"/>
        <source>An agent answered and is coming to you. Stay where you are.</source>
        <translation>Un agent a répondu et vient vous aider. Restez où vous êtes.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="926"/>
        <source>If you fell, do not try to get up alone.</source>
        <translation>Si vous êtes tombé, n’essayez pas de vous relever seul.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="927"/>
        <source>If you can, touch the screen or raise a hand.</source>
        <translation>Si vous le pouvez, touchez l’écran ou levez la main.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="929"/>
        <source>One of your measurements needs attention. Stay seated and rest.</source>
        <translation>Une de vos mesures demande de l’attention. Restez assis et reposez-vous.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="931"/>
        <source>You asked for help: it has been called.</source>
        <translation>Vous avez demandé de l’aide : elle a été appelée.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="937"/>
        <source>If it is serious, anyone can call 15 (or 112).</source>
        <translation>En cas d’urgence, tout le monde peut appeler le 15 (ou le 112).</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="943"/>
        <source>I am the agent</source>
        <translation>Je suis l’agent</translation>
    </message>
    <message numerus="yes">
        <location filename="../kiosk_window.py" line="902"/>
        <source>Without an answer, the consultation stops in %n seconds.</source>
        <translation>
            <numerusform>Sans réponse, la consultation s’arrête dans %n seconde.</numerusform>
            <numerusform>Sans réponse, la consultation s’arrête dans %n secondes.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="495"/>
        <location filename="../kiosk_window.py" line="528"/>
        <source>Sound on</source>
        <translation>Remettre le son</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="495"/>
        <location filename="../kiosk_window.py" line="528"/>
        <source>Mute</source>
        <translation>Couper le son</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="496"/>
        <source>Contrast</source>
        <translation>Contraste</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="497"/>
        <source>Call for help</source>
        <translation>Appeler à l’aide</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="907"/>
        <source>I am here</source>
        <translation>Je suis là</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="922"/>
        <source>Help is coming</source>
        <translation>Quelqu’un arrive</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="923"/>
        <source>Stay calm. Someone has been told and will come to you.</source>
        <translation>Restez calme. Quelqu’un a été prévenu et va venir vous aider.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="942"/>
        <source>I am fine</source>
        <translation>Je vais bien</translation>
    </message>
</context>
<context>
    <name>LastSeen</name>
    <message>
        <location filename="../media_indicator.py" line="86"/>
        <source>%1:%2</source>
        <comment>hour and minute</comment>
        <translation>%1 h %2</translation>
    </message>
    <message>
        <location filename="../media_indicator.py" line="92"/>
        <source>Last connection: today at %1</source>
        <translation>Dernière connexion : aujourd’hui à %1</translation>
    </message>
    <message>
        <location filename="../media_indicator.py" line="94"/>
        <source>Last connection: yesterday at %1</source>
        <translation>Dernière connexion : hier à %1</translation>
    </message>
    <message>
        <location filename="../media_indicator.py" line="96"/>
        <source>Last connection: %2 at %1</source>
        <translation>Dernière connexion : le %2 à %1</translation>
    </message>
</context>
<context>
    <name>MediaIndicator</name>
    <message>
        <location filename="../media_indicator.py" line="74"/>
        <source>Camera and microphone on</source>
        <translation>Caméra et micro actifs</translation>
    </message>
</context>
<context>
    <name>PinPage</name>
    <message>
        <location filename="../assistant_panel.py" line="122"/>
        <source>Assistant mode</source>
        <translation>Mode assistant</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="123"/>
        <source>Type the agents&apos; PIN.</source>
        <translation>Tapez le code des agents.</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="137"/>
        <source>Open</source>
        <translation>Ouvrir</translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="138"/>
        <source>Cancel</source>
        <translation>Annuler</translation>
    </message>
    <message numerus="yes">
        <location filename="../assistant_panel.py" line="149"/>
        <source>Wrong PIN. %n tries left before the mode locks.</source>
        <translation>
            <numerusform>Code erroné. Encore %n essai avant le blocage.</numerusform>
            <numerusform>Code erroné. Encore %n essais avant le blocage.</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../assistant_panel.py" line="154"/>
        <source>Too many wrong PINs: locked for %n minutes.</source>
        <translation>
            <numerusform>Trop de codes erronés : bloqué pendant %n minute.</numerusform>
            <numerusform>Trop de codes erronés : bloqué pendant %n minutes.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../assistant_panel.py" line="157"/>
        <source>No PIN is set for this cabin: ask the operator.</source>
        <translation>Aucun code n’est défini pour cette cabine : demandez à l’exploitant.</translation>
    </message>
</context>
<context>
    <name>VitalsPage</name>
    <message>
        <location filename="../vitals_page.py" line="50"/>
        <source>Blood pressure</source>
        <translation>Tension artérielle</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="51"/>
        <source>Temperature</source>
        <translation>Température</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="52"/>
        <source>Oxygen and pulse</source>
        <translation>Oxygène et pouls</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="58"/>
        <source>Put the cuff on your bare left arm, two fingers above the elbow, the tube on the inside. Rest your arm on the table, then press Start and keep still.</source>
        <translation>Mettez le brassard sur votre bras gauche nu, deux doigts au-dessus du coude, le tuyau à l’intérieur. Posez le bras sur la table, puis appuyez sur Commencer et ne bougez plus.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="63"/>
        <source>Take the thermometer and hold it as the picture shows, then press Start.</source>
        <translation>Prenez le thermomètre et tenez-le comme sur l’image, puis appuyez sur Commencer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="66"/>
        <source>Put your index finger all the way into the clip, nail up, and keep your hand still. Then press Start.</source>
        <translation>Mettez votre index jusqu’au fond de la pince, ongle vers le haut, et gardez la main immobile. Puis appuyez sur Commencer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="76"/>
        <source>The cuff is loose: tighten it around your arm and press Retry.</source>
        <translation>Le brassard est trop lâche : serrez-le autour du bras et appuyez sur Réessayer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="79"/>
        <source>You moved during the measurement: keep still, arm resting, and press Retry.</source>
        <translation>Vous avez bougé pendant la mesure : restez immobile, le bras posé, et appuyez sur Réessayer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="83"/>
        <source>Rest your arm on the table, at the height of your heart, and press Retry.</source>
        <translation>Posez le bras sur la table, à la hauteur du cœur, et appuyez sur Réessayer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="87"/>
        <source>Put your finger all the way into the clip.</source>
        <translation>Mettez votre doigt jusqu’au fond de la pince.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="90"/>
        <source>The sensor is unplugged. Press Skip: the agent will be told.</source>
        <translation>Le capteur est débranché. Appuyez sur Passer : l’agent sera prévenu.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="93"/>
        <source>The signal is weak: keep your hand still and warm. It may take a moment.</source>
        <translation>Le signal est faible : gardez la main immobile et au chaud. Cela peut prendre un moment.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="96"/>
        <source>The measurement did not work. Press Retry.</source>
        <translation>La mesure n’a pas fonctionné. Appuyez sur Réessayer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="99"/>
        <source>The device reported an error. Press Retry, or Skip.</source>
        <translation>L’appareil a signalé une erreur. Appuyez sur Réessayer, ou sur Passer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="102"/>
        <source>The device does not answer. Press Retry, or Skip.</source>
        <translation>L’appareil ne répond pas. Appuyez sur Réessayer, ou sur Passer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="105"/>
        <source>The device was disconnected. Press Retry, or Skip.</source>
        <translation>L’appareil a été déconnecté. Appuyez sur Réessayer, ou sur Passer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="108"/>
        <source>This device is not available now. Press Skip: the doctor will know.</source>
        <translation>Cet appareil n’est pas disponible pour le moment. Appuyez sur Passer : le médecin le saura.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="111"/>
        <source>The device&apos;s battery is low. Press Skip: the agent will be told.</source>
        <translation>La pile de l’appareil est faible. Appuyez sur Passer : l’agent sera prévenu.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="114"/>
        <source>The measurement was stopped. Press Retry, or Skip.</source>
        <translation>La mesure a été arrêtée. Appuyez sur Réessayer, ou sur Passer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="117"/>
        <source>The device is reconnecting… Please wait: the measurement will start again by itself.</source>
        <translation>L’appareil se reconnecte… Patientez : la mesure va reprendre toute seule.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="126"/>
        <source>unknown</source>
        <translation>inconnu</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="127"/>
        <source>.</source>
        <comment>decimal separator</comment>
        <translation>,</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="135"/>
        <source>Blood pressure: %1/%2 mmHg, pulse %3 per minute</source>
        <translation>Tension : %1/%2 mmHg, pouls %3 par minute</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="144"/>
        <source>Temperature: %1 °C</source>
        <translation>Température : %1 °C</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="147"/>
        <source>Oxygen in the blood: %1 %, pulse %2 per minute</source>
        <translation>Oxygène dans le sang : %1 %, pouls %2 par minute</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="154"/>
        <source>(the device noticed a disturbance: the doctor may ask you to measure again)</source>
        <translation>(l’appareil a remarqué une perturbation : le médecin pourra vous demander de refaire la mesure)</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="165"/>
        <source>Pressure in the cuff: %1 mmHg</source>
        <translation>Pression dans le brassard : %1 mmHg</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="171"/>
        <source>Measuring… oxygen %1 %, pulse %2</source>
        <translation>Mesure en cours… oxygène %1 %, pouls %2</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="175"/>
        <location filename="../vitals_page.py" line="357"/>
        <source>Measuring…</source>
        <translation>Mesure en cours…</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="242"/>
        <source>Stop</source>
        <translation>Arrêter</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="248"/>
        <location filename="../vitals_page.py" line="364"/>
        <source>Press Start when you are ready.</source>
        <translation>Appuyez sur Commencer quand vous êtes prêt.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="292"/>
        <source>Back to the doctor</source>
        <translation>Revenir au médecin</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="294"/>
        <source>Go to the doctor</source>
        <translation>Aller voir le médecin</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="299"/>
        <source>Your measurements are done</source>
        <translation>Vos mesures sont terminées</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="302"/>
        <source>The doctor will see them. Press the button to continue.</source>
        <translation>Le médecin les verra. Appuyez sur le bouton pour continuer.</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="315"/>
        <source>Measurement %1 of %2</source>
        <translation>Mesure %1 sur %2</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="325"/>
        <source>Measure again</source>
        <translation>Mesurer à nouveau</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="327"/>
        <source>Retry</source>
        <translation>Réessayer</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="329"/>
        <source>Start</source>
        <translation>Commencer</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="331"/>
        <source>Skip this measurement</source>
        <translation>Passer cette mesure</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="409"/>
        <source>This value must be checked. Please take this measurement again, calmly, then press Measure again.</source>
        <translation>Cette valeur doit être vérifiée. Refaites cette mesure calmement : appuyez sur « Mesurer à nouveau ».</translation>
    </message>
    <message>
        <location filename="../vitals_page.py" line="419"/>
        <source>Done. Press Start for the next measurement.</source>
        <translation>C’est fait. Appuyez sur Commencer pour la mesure suivante.</translation>
    </message>
</context>
</TS>
